"""Cost of the manifold penalty over a group graph (noisy copies of each training input),
the O(B) group form against the (B, B) pairwise form, measured side by side in one run.

Layerwise training on an inverse problem copies each of N inputs k times; the penalty links
the members of a group. ``ManifoldGraph`` sums a group graph as sum_{i,j in g} |h_i - h_j|^2
= 2 n_g sum_i |h_i - mean_g|^2, and a weighted graph through the (B, B) weight and distance
matrices; the same links given as weights take the second path. Both values and gradients
agree (printed); the ratio is forward + backward time.

    .venv/bin/python benchmarks/manifold_penalty.py [--groups 50] [--copies 40] [--width 100]
"""

from __future__ import annotations

import argparse
import time

import scipy.sparse as sp
import torch

from sciml_grow.objective import ManifoldGraph


def seconds(fn, h: torch.Tensor, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(h).backward()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=50)
    ap.add_argument("--copies", type=int, default=40)
    ap.add_argument("--width", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)
    groups = torch.arange(args.groups).repeat(args.copies + 1)
    graph = ManifoldGraph(groups=groups)
    links = (groups[:, None] == groups[None, :]).numpy().astype(float)
    weighted = ManifoldGraph(weights=sp.csr_array(links))
    idx = torch.randperm(len(groups))
    h = torch.randn(len(groups), args.width, requires_grad=True)
    fast = seconds(lambda v: graph.penalty(v, idx), h, args.repeats)
    slow = seconds(lambda v: weighted.penalty(v, idx), h, args.repeats)
    a = graph.penalty(h, idx)
    b = weighted.penalty(h, idx)
    (ga,) = torch.autograd.grad(a, h)
    (gb,) = torch.autograd.grad(b, h)
    print(f"B = {len(groups)} rows ({args.groups} groups of {args.copies + 1}), width {args.width}")
    print(f"value: group {float(a.detach()):.6g}, pairwise {float(b.detach()):.6g}")
    print(f"gradient max difference {float((ga - gb).abs().max()):.2e}")
    print(f"forward + backward: group {fast * 1e3:.2f} ms, pairwise {slow * 1e3:.2f} ms")
    print(f"pairwise / group = {slow / fast:.1f}")


if __name__ == "__main__":
    main()
