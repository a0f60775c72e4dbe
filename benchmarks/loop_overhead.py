"""Per-epoch cost of ``sg.fit`` against a plain PyTorch loop of the same model, optimizer, data
and per-epoch validation pass, side by side in one run.

Each time is a slope between two epoch budgets (E1 and E2 epochs, the same seed), so what a
run pays once (reading the file, building the network, the test evaluation) drops out and what
is left is the cost of an epoch. One thread. Cases (issue 24): width 20, 4 blocks, 200 training
samples, full batch; width 32, 2 blocks, 1,000 samples, batch 128. Target: ratio <= 1.25.

    .venv/bin/python benchmarks/loop_overhead.py [--data demo_out/heat.h5] [--repeats 3]

Without ``--data`` a 2,000-sample heat file like ``make demo``'s is generated in a temporary
folder (needs FEniCSx).
"""

from __future__ import annotations

import argparse
from pathlib import Path
import statistics
import tempfile
import time

import torch

import sciml_grow as sg

CASES = [
    {"width": 20, "blocks": 4, "n": 200, "batch": 0},
    {"width": 32, "blocks": 2, "n": 1000, "batch": 128},
]


def config(case: dict, epochs: int) -> dict:
    return {
        "strategy": "baseline",
        "baseline_blocks": case["blocks"],
        "epochs": epochs,
        "model": {"width": case["width"]},
        "optim": {"batch_size": case["batch"], "lr": 1e-3},
        "data": {"max_train": case["n"]},
    }


def fit_seconds(data: Path, case: dict, epochs: int) -> float:
    start = time.perf_counter()
    sg.fit(data, config(case, epochs), progress=False)
    return time.perf_counter() - start


def plain_seconds(data: Path, case: dict, epochs: int) -> float:
    """The same network, AdamW, standardized data, minibatch order and validation, by hand."""
    start = time.perf_counter()
    cfg = sg.TrainConfig(**{k: v for k, v in config(case, epochs).items() if k == "epochs"})
    ds = sg.load(data, max_train=case["n"])
    torch.manual_seed(0)
    net = sg.build_network(ds, width=case["width"], initial_blocks=case["blocks"])
    x, y = ds.tensors("train")
    xv, yv = ds.tensors("val")
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    rng = torch.Generator().manual_seed(0)
    step = case["batch"] or len(x)
    for _ in range(cfg.epochs):
        net.train()
        perm = torch.randperm(len(x), generator=rng)
        for i in range(0, len(x), step):
            idx = perm[i : i + step]
            opt.zero_grad(set_to_none=True)
            loss = torch.mean((net(x[idx]) - y[idx]) ** 2)
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            float(torch.mean((net(xv) - yv) ** 2))
    return time.perf_counter() - start


def slope(fn, data: Path, case: dict, e1: int, e2: int, repeats: int) -> tuple[float, float]:
    """Seconds per epoch, the median over repeats of (t(E2) - t(E1)) / (E2 - E1), and the
    seconds a run pays once (t(E1) - E1 x that); after a warm-up run (the first run of a
    process reads the file and builds its caches)."""
    fn(data, case, 2)
    slopes, fixed = [], []
    for _ in range(repeats):
        t1 = fn(data, case, e1)
        t2 = fn(data, case, e2)
        slopes.append((t2 - t1) / (e2 - e1))
        fixed.append(t1 - e1 * slopes[-1])
    return statistics.median(slopes), statistics.median(fixed)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, help="a heat dataset (default: generate one)")
    p.add_argument("--epochs", type=int, nargs=2, default=(100, 300), metavar=("E1", "E2"))
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "heat.h5"
            sg.generate("heat", 2000, data, config={"prior": {"correlation_length": 0.5}},
                        progress=False)  # fmt: skip
        e1, e2 = args.epochs
        print(f"per-epoch seconds, slope between {e1} and {e2} epochs, median of "
              f"{args.repeats}, one thread")  # fmt: skip
        print("| case | sg.fit (ms/epoch) | plain loop (ms/epoch) | ratio | sg.fit once (s) "
              "| plain once (s) |")  # fmt: skip
        print("|---|---|---|---|---|---|")
        for case in CASES:
            fit, fit_once = slope(fit_seconds, data, case, e1, e2, args.repeats)
            plain, plain_once = slope(plain_seconds, data, case, e1, e2, args.repeats)
            name = (f"width {case['width']}, {case['blocks']} blocks, N {case['n']}, "
                    f"batch {case['batch'] or 'full'}")  # fmt: skip
            print(f"| {name} | {1e3 * fit:.2f} | {1e3 * plain:.2f} | {fit / plain:.2f} | "
                  f"{fit_once:.3f} | {plain_once:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
