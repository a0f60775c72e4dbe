"""Cost of growing: one topological-derivative decision against one training epoch, and the
training-step throughput of the growable MLP against a plain nn.Sequential.

Measured side by side in one run on a 10,000-sample heat dataset (width 100, 10 blocks).
Targets (issue 3): decision <= 1 epoch; throughput ratio >= 0.9.

    .venv/bin/python benchmarks/growth_cost.py [--samples 10000] [--width 100] [--blocks 10]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
import tempfile
import time

import torch
from torch import nn

from sciml_grow.config import from_dict
from sciml_grow.data.dataset import Dataset
from sciml_grow.growth import topological as td
from sciml_grow.nets import BlockSpec, GrowableMLP
from sciml_grow.objective import mse
from sciml_grow.training.config import TrainConfig


class Residual(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.linear = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.tanh(self.linear(x))


def epoch_seconds(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    perm = torch.randperm(len(x))
    t0 = time.perf_counter()
    for i in range(0, len(x), batch):
        idx = perm[i : i + batch]
        opt.zero_grad(set_to_none=True)
        mse(model(x[idx]), y[idx]).backward()
        opt.step()
    return time.perf_counter() - t0


def best_of(fn, repeats: int = 3) -> float:
    return min(fn() for _ in range(repeats))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=10000)
    p.add_argument("--width", type=int, default=100)
    p.add_argument("--blocks", type=int, default=10)
    p.add_argument("--batch", type=int, default=128)
    args = p.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        from pde_data.generate import generate

        path = Path(tmp) / "heat.h5"
        # the split keeps 81% for training: ask for enough samples to train on args.samples
        generate("heat", round(args.samples / 0.81), path, seed=0, progress=False)
        cfg = from_dict(TrainConfig, {})
        data = Dataset(path, cfg.data)
    x, y = data.tensors("train")
    x, y = x[: args.samples], y[: args.samples]
    w, n = args.width, args.blocks
    grow = GrowableMLP(x.shape[1], y.shape[1], w, [BlockSpec("tanh") for _ in range(n)])
    plain = nn.Sequential(
        nn.Linear(x.shape[1], w),
        nn.Tanh(),
        *[Residual(w) for _ in range(n)],
        nn.Linear(w, y.shape[1]),
    )
    plain.load_state_dict(
        {k2: v for (_, v), k2 in zip(grow.state_dict().items(), plain.state_dict(), strict=True)}
    )
    t_plain, t_grow = math.inf, math.inf
    for _ in range(5):  # interleaved, so drift in machine speed hits both alike
        t_plain = min(t_plain, epoch_seconds(plain, x, y, args.batch))
        t_grow = min(t_grow, epoch_seconds(grow, x, y, args.batch))

    def decision(m: int) -> float:
        t0 = time.perf_counter()
        td.sensitivity(grow, x[:m], y[:m], mse, d2=1.0)
        return time.perf_counter() - t0

    t_td = best_of(lambda: decision(len(x)))
    t_td2k = best_of(lambda: decision(2000))
    print(
        f"{len(x)} training samples, width {w}, {n} blocks, batch {args.batch}, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"  one epoch, growable MLP      : {t_grow:.3f} s")
    print(f"  one epoch, plain Sequential  : {t_plain:.3f} s")
    print(f"  throughput growable / plain  : {t_plain / t_grow:.2f}   (target >= 0.9)")
    print(f"  one TD decision ({n + 1} depths) : {t_td:.3f} s  (forward + adjoint + eigenproblems)")
    print(f"  decision / epoch             : {t_td / t_grow:.2f}   (target <= 1)")
    print(
        f"  decision on 2,000 samples    : {t_td2k:.3f} s = {t_td2k / t_grow:.2f} epochs "
        "(growth.td_samples=2000)"
    )


if __name__ == "__main__":
    main()
