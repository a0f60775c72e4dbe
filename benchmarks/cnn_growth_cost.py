"""Cost of one topological-derivative decision for a CNN on a 64 x 64 field task, against one
training epoch, measured side by side in one run.

The decision builds, at every candidate depth, C blocks of size C k k + 1 summed over every
sample and pixel (rows), so it costs about 2 R C (C k k + 1)^2 flops per depth against about
6 R C^2 k^2 per block for an epoch: a multiple of an epoch however it is coded. ``growth.td_rows``
estimates Q from a random subset of rows; this script reports the decision time with all rows
and with subsets, and whether the subset picks the same depth as the exact decision (the
agreement is what matters, not the eigenvalues themselves). Target (issue 8): <= 1 epoch.

Data: the Navier–Stokes field task's shapes (1 x 64 x 64 in and out). ``--data ns.h5`` uses a
generated file (``samples/wT_grid`` -> ``targets``); without it, smooth random fields of that
size (the cost does not depend on the values).

    .venv/bin/python benchmarks/cnn_growth_cost.py [--samples 250] [--width 16] [--blocks 4]
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F

from sciml_grow.data.dataset import mse
from sciml_grow.growth import topological as td
from sciml_grow.nets import BlockSpec, GrowableCNN


def smooth_fields(n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """(n, size * size) smooth random fields: white noise blurred by a Gaussian."""
    noise = torch.randn(n, 1, size, size, generator=gen)
    r = torch.arange(-6, 7, dtype=torch.float32)
    g = torch.exp(-(r**2) / 8)
    kernel = (g[:, None] * g[None, :] / g.sum() ** 2)[None, None]
    return F.conv2d(noise, kernel, padding=6).reshape(n, -1) * 4


def load(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    if args.data:
        from sciml_grow.data.dataset import DataConfig, Dataset

        data = Dataset(args.data, DataConfig(inputs="samples/wT_grid"))
        x, y = data.tensors("train")
        return x[: args.samples], y[: args.samples]
    gen = torch.Generator().manual_seed(0)
    x = smooth_fields(args.samples, 64, gen)
    return x, torch.tanh(x.roll(3, dims=1)) + 0.1 * smooth_fields(args.samples, 64, gen)


def epoch_seconds(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for i in range(0, len(x), batch):
        opt.zero_grad(set_to_none=True)
        mse(model(x[i : i + batch]), y[i : i + batch]).backward()
        opt.step()
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="a navier_stokes dataset file (default: synthetic fields)")
    p.add_argument("--samples", type=int, default=250)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--fractions", default="0.01,0.003,0.001", help="row subsets to time")
    args = p.parse_args()
    torch.manual_seed(0)
    x, y = load(args)
    blocks = [BlockSpec("tanh") for _ in range(args.blocks)]
    net = GrowableCNN([1, 64, 64], 64 * 64, args.width, blocks)
    t_epoch = min(epoch_seconds(net, x, y, args.batch) for _ in range(2))
    rows = len(x) * 64 * 64

    def decision(max_rows: int, seed: int = 0, share: int = 1) -> tuple[float, td.Sensitivity]:
        """Time of one decision on the first 1/share of the samples (growth.td_samples)."""
        gen = torch.Generator().manual_seed(seed)
        xs, ys = x[: len(x) // share], y[: len(x) // share]
        t0 = time.perf_counter()
        sens, _ = td.sensitivity(net, xs, ys, mse, 1.0, chunk=64, max_rows=max_rows, rng=gen)
        return time.perf_counter() - t0, sens

    t_full, exact = decision(0)
    print(
        f"CNN {args.width} channels, {args.blocks} blocks, 3 x 3 kernels, 64 x 64 fields, "
        f"{len(x)} training samples ({'file' if args.data else 'synthetic'}), batch "
        f"{args.batch}, {torch.get_num_threads()} threads"
    )
    print(f"  one epoch                         : {t_epoch:.2f} s")
    print(
        f"  one TD decision, all {rows:,} rows : {t_full:.2f} s = {t_full / t_epoch:.1f} epochs"
        f"   (target <= 1); best depth {exact.best}"
    )
    for frac in (float(f) for f in args.fractions.split(",")):
        m = max(1, math.ceil(frac * rows))
        for share, what in ((1, "all samples"), (4, "1/4 of the samples")):
            times, agree = [], 0
            for seed in range(5):
                t, sens = decision(m, seed, share)
                times.append(t)
                agree += int(sens.best == exact.best)
            t = min(times)
            print(
                f"  {m:>9,} rows ({frac:g} of all), {what:<18}: {t:.2f} s = "
                f"{t / t_epoch:.2f} epochs; same depth as exact in {agree}/5 draws"
            )


if __name__ == "__main__":
    main()
