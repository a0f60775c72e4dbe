"""Data-parallel training speed-up (issue 16): the same run in one process and in 2 processes
under ``torchrun`` (DistributedDataParallel, gloo on CPU; nccl with ``--device cuda``), side by
side in one run, on a synthetic regression file large enough for the gradient all-reduce to
pay off (20,000 samples, 64 -> 1,024 values, width 256, batch 256).

Printed: seconds per epoch (median over the run's epochs, from metrics.csv) for 1 process
with 1 thread, 1 process with as many threads as processes, and P processes of 1 thread each,
and the speed-ups; and whether the runs ended with the same test error (they must, up to the
order of sums).

    .venv/bin/python benchmarks/ddp.py [--processes 2] [--samples 20000] [--epochs 4]
        [--width 256] [--batch 256] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import subprocess
import sys
import tempfile

import h5py
import numpy as np

SETTINGS = {
    "strategy": "td",
    "model": {"width": 256, "initial_blocks": 2},
    "optim": {"batch_size": 256, "lr": 1e-3},
    "growth": {"max_blocks": 2},  # timing epochs, not growth
    "dtype": "float32",
}


def write(path: Path, n: int, n_in: int = 64, n_out: int = 1024) -> None:
    rng = np.random.default_rng(0)
    basis = rng.standard_normal((32, n_out))
    targets = np.tanh(rng.standard_normal((n, 32))) @ basis
    view = rng.standard_normal((n_out, n_in)) / np.sqrt(n_out)
    with h5py.File(path, "w") as f:
        f["inputs"] = targets @ view + 0.01 * rng.standard_normal((n, n_in))
        f["targets"] = targets


def child(data: str, out: str, epochs: int, device: str, width: int, batch: int) -> None:
    import sciml_grow as sg

    settings = {**SETTINGS, "epochs": epochs, "model": {**SETTINGS["model"], "width": width}}
    settings["optim"] = {**SETTINGS["optim"], "batch_size": batch}
    model = sg.fit(data, sg.TrainConfig(**settings), out=out, device=device, progress=False)
    if int(os.environ.get("RANK", "0")) == 0:
        seconds = float(np.median([float(r["seconds"]) for r in model.history]))
        print(json.dumps({"epoch_seconds": seconds, "rel_l2": model.final["test"]["rel_l2_mean"]}))


def run(data: Path, out: Path, args: argparse.Namespace, processes: int, threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, __file__, "--child", str(data), str(out), str(args.epochs)]
    cmd += [args.device, str(args.width), str(args.batch)]
    if processes > 1:
        torchrun = str(Path(sys.executable).with_name("torchrun"))
        cmd = [torchrun, "--standalone", "--nproc_per_node", str(processes), *cmd[1:]]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--samples", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--device", default="cpu")
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        data, out, epochs, device, width, batch = args.child
        child(data, out, int(epochs), device, int(width), int(batch))
        return
    P = args.processes
    with tempfile.TemporaryDirectory(prefix="sg-ddp-") as tmp:
        data = Path(tmp) / "data.h5"
        write(data, args.samples)
        one = run(data, Path(tmp) / "one", args, 1, 1)
        threaded = run(data, Path(tmp) / "threads", args, 1, P)
        ddp = run(data, Path(tmp) / "ddp", args, P, 1)
    print(f"{args.samples} samples, width {args.width}, batch {args.batch}, {args.device}: "
          "seconds per epoch")  # fmt: skip
    print(f"  1 process, 1 thread:           {one['epoch_seconds']:.2f}")
    print(f"  1 process, {P} threads:          {threaded['epoch_seconds']:.2f} "
          f"(speed-up {one['epoch_seconds'] / threaded['epoch_seconds']:.2f})")  # fmt: skip
    t1, tt, td = one["epoch_seconds"], threaded["epoch_seconds"], ddp["epoch_seconds"]
    print(f"  {P} processes (DDP), 1 thread each: {td:.2f} (speed-up {t1 / td:.2f}, "
          f"{tt / td:.2f} x the threaded run)")  # fmt: skip
    print(f"test error: 1 process {one['rel_l2']:.6f}, DDP {ddp['rel_l2']:.6f}")


if __name__ == "__main__":
    main()
