"""What a run costs: FLOPs counted by torch, and the peak memory.

FLOPs are counted by :class:`torch.utils.flop_counter.FlopCounterMode`, which knows the
formulas of matrix products, convolutions and attention (forward and backward) and adds them
up as they run. Two additions here: the symmetric eigensolver the topological derivative calls
(``aten._linalg_eigh``, which torch does not count) gets the textbook cost, and a meter that
counts one batch per architecture and scales it by the samples an epoch processes, so the
loop runs at full speed (a counted step goes through Python dispatch and is several times
slower). What FlopCounterMode does not count (elementwise work, activations, the optimizer's
update, sparse solves of a physics term) is not in the totals; docs/statistics.md says so.
"""

from __future__ import annotations

import math
import resource
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode


def _eigh_flops(a: torch.Size, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    """Symmetric eigendecomposition of a batch of n x n matrices: about 4/3 n^3 for the
    eigenvalues (tridiagonal reduction and QR), 9 n^3 with the eigenvectors (Golub & Van
    Loan, Matrix Computations, section 8.3)."""
    n, batch = a[-1], math.prod(a[:-2])
    vectors = out_shape is not None and math.prod(out_shape[1]) > 0
    return int(batch * (9 if vectors else 4 / 3) * n**3)


def counter() -> FlopCounterMode:
    """A FlopCounterMode that also counts symmetric eigensolves; ``get_total_flops()`` after."""
    return FlopCounterMode(display=False, custom_mapping={torch.ops.aten._linalg_eigh: _eigh_flops})


def peak_memory_mb(device: torch.device) -> tuple[float, str]:
    """The peak memory so far and what it measures: on CUDA the tensors allocated on the device
    since :func:`reset_peak_memory` (the run's own), on a CPU the process's peak resident size
    (every run in the process up to now: an upper bound for this one)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process_rss"


def reset_peak_memory(device: torch.device) -> None:
    """Start a run's peak memory count (CUDA only; a process's resident peak cannot reset)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
