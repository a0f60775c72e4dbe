"""Training from files larger than memory (issue 16): a synthetic dataset of wind-like shapes
(60 sensor values -> 3 x 8192 grid velocities, float64) of about 10 GB and a small one of the
same shapes, written in the dataset format with the generators' chunking. Printed side by side
in one run:

- training throughput on the small file, read on demand against loaded (target >= 0.9x);
- peak resident memory of a process training one epoch on the large file (target <= 1 GB),
  and of one topological-derivative decision over its whole training split, with its time.

The large-file measurements run in fresh processes (``--child``), so each peak is its own.

    .venv/bin/python benchmarks/streaming.py [--gb 10] [--small 2000] [--dir DIR] [--keep]
        [--mmap-threshold 2097152]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import resource
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

N_IN, N_OUT, RANK = 60, 3 * 8192, 16
SETTINGS = {
    "strategy": "td",
    "model": {"width": 64, "initial_blocks": 2},
    "optim": {"batch_size": 64, "lr": 1e-3},
    "growth": {"max_blocks": 2},  # no growth while timing epochs
    "dtype": "float32",
}


def write(path: Path, n: int, seed: int = 0) -> None:
    """n samples: targets of rank 16 plus noise, inputs a fixed linear view of them."""
    from sciml_grow import format as fmt

    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((RANK, N_OUT))
    view = rng.standard_normal((N_OUT, N_IN)) / np.sqrt(N_OUT)
    with h5py.File(path, "w") as f:
        shapes = {fmt.INPUTS: (n, N_IN), fmt.TARGETS: (n, N_OUT)}
        for name, shape in shapes.items():
            f.create_dataset(name, shape=shape, dtype="f8", chunks=fmt.sample_chunks(shape, "f8"))
        for i in range(0, n, 256):
            m = min(256, n - i)
            targets = rng.standard_normal((m, RANK)) @ basis + 0.1 * rng.standard_normal((m, N_OUT))
            f[fmt.TARGETS][i : i + m] = targets
            f[fmt.INPUTS][i : i + m] = targets @ view


def resident_mb() -> dict[str, float]:
    """This process's resident memory now: anonymous (its own data) and file-backed
    (mapped libraries), MB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("RssAnon:", "RssFile:")):
            out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM: ru_maxrss would include the parent's
    resident memory at the fork, which Linux carries over the exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: KB


def epoch_rate(path: Path, in_memory: bool, epochs: int) -> float:
    """Training samples per second over ``epochs`` epochs (median epoch, from metrics.csv)."""
    import sciml_grow as sg

    ds = sg.load(path, in_memory=in_memory)
    cfg = sg.TrainConfig(**{**SETTINGS, "epochs": epochs})
    model = sg.fit(ds, cfg, progress=False)
    seconds = [float(r["seconds"]) for r in model.history]  # per epoch
    return len(ds.splits["train"]) / float(np.median(seconds))


def child(task: str, path: Path) -> None:
    """One measurement in this fresh process; prints a JSON line."""
    import torch

    import sciml_grow as sg
    from sciml_grow.growth import topological as td

    torch.set_num_threads(2)
    start = time.perf_counter()
    if task == "torch":  # the floor: what the imports alone hold
        out: dict = {}
    elif task == "train":
        ds = sg.load(path, in_memory=False)
        model = sg.fit(ds, sg.TrainConfig(**{**SETTINGS, "epochs": 1}), progress=False)
        out = {"epoch_seconds": float(model.history[-1]["seconds"]), "n": len(ds.splits["train"])}
    else:
        ds = sg.load(path, in_memory=False)
        net = sg.build_network(ds, width=64, initial_blocks=2).float()
        x, y = ds.tensors("train")
        t0 = time.perf_counter()
        sens, _ = td.sensitivity(net, x, y, torch.nn.functional.mse_loss, d2=-2.0)
        out = {"decision_seconds": time.perf_counter() - t0, "scores": sens.scores.tolist()}
    out.update(total_seconds=time.perf_counter() - start, peak_mb=peak_mb(), **resident_mb())
    print(json.dumps(out), flush=True)


def run_child(task: str, path: Path, mmap_threshold: int | None = None) -> dict:
    """One measurement in a fresh process (glibc's mmap threshold fixed if given)."""
    cmd = [sys.executable, __file__, "--child", task, str(path)]
    env = dict(os.environ)
    if mmap_threshold is not None:
        env["MALLOC_MMAP_THRESHOLD_"] = str(mmap_threshold)
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gb", type=float, default=10.0, help="size of the large file")
    p.add_argument("--small", type=int, default=2000, help="samples of the small file")
    p.add_argument("--epochs", type=int, default=3, help="epochs timed on the small file")
    p.add_argument("--rounds", type=int, default=3, help="alternated rounds on the small file")
    p.add_argument("--dir", type=Path, help="where the files go (default: a temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the files")
    p.add_argument(
        "--mmap-threshold",
        type=int,
        help="glibc's MALLOC_MMAP_THRESHOLD_ (bytes) for the large-file runs: buffers above it "
        "are returned to the system when freed (bounds the heap's fragmentation, costs page "
        "faults)",
    )
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    folder = args.dir or Path(tempfile.mkdtemp(prefix="sg-streaming-"))
    folder.mkdir(parents=True, exist_ok=True)
    small, large = folder / "small.h5", folder / "large.h5"
    n_large = int(args.gb * 1e9 / (8 * (N_IN + N_OUT)))
    made: list[Path] = []
    try:
        t0 = time.perf_counter()
        for path, n, seed in ((small, args.small, 0), (large, n_large, 1)):
            if not path.exists():  # a large file kept from an earlier run is reused
                write(path, n, seed)
                made.append(path)
        base = run_child("torch", large)
        print(f"a process that imports torch and sciml_grow: {base['peak_mb']:.0f} MB "
              f"resident ({base['RssAnon']:.0f} own data, {base['RssFile']:.0f} mapped "
              "libraries)")  # fmt: skip
        print(f"files: {args.small} and {n_large} samples ({large.stat().st_size / 1e9:.1f} GB),"
              f" ready in {time.perf_counter() - t0:.0f} s")  # fmt: skip
        # alternated (loaded, read on demand, loaded, ...): drifts of the machine's speed
        # fall on both
        rates: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.rounds):
            for in_memory in (True, False):
                rates[in_memory].append(epoch_rate(small, in_memory, args.epochs))
        loaded, streamed = (float(np.median(rates[m])) for m in (True, False))
        ratios = ", ".join(f"{s / m:.2f}" for m, s in zip(rates[True], rates[False], strict=True))
        print(f"small file, training samples/s (median of {args.rounds} alternated rounds): "
              f"loaded {loaded:.0f}, read on demand {streamed:.0f}: ratio "
              f"{streamed / loaded:.2f} (target >= 0.9; per round {ratios})")  # fmt: skip
        train = run_child("train", large, args.mmap_threshold)
        print(f"large file, one epoch of {train['n']} samples: {train['epoch_seconds']:.0f} s "
              f"({train['total_seconds']:.0f} s with statistics and checks), peak resident "
              f"memory {train['peak_mb']:.0f} MB (target <= 1000; at the end "
              f"{train['RssAnon']:.0f} MB own data, {train['RssFile']:.0f} MB mapped "
              "libraries)")  # fmt: skip
        decision = run_child("td", large, args.mmap_threshold)
        print(f"large file, one TD decision over the training split: "
              f"{decision['decision_seconds']:.0f} s, peak resident memory "
              f"{decision['peak_mb']:.0f} MB (at the end {decision['RssAnon']:.0f} MB own "
              f"data, {decision['RssFile']:.0f} MB mapped libraries)")  # fmt: skip
    finally:
        if not args.keep:  # only what this run wrote
            for path in made:
                path.unlink(missing_ok=True)
            if args.dir is None:
                folder.rmdir()


if __name__ == "__main__":
    main()
