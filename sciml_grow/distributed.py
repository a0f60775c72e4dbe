"""One training run over several processes: PyTorch DistributedDataParallel, launched by
``torchrun`` (gloo on CPU, nccl on GPU), growth decisions included.

Every rank holds the same network, draws the same global minibatch (the batch generator is
seeded alike) and trains on its share of it; DDP averages the gradients, and each rank's loss
is weighted by its share of the batch, so a step equals the one-process step on the whole
batch up to the order of the sums. Growth runs in lockstep: the topological derivative's Q
blocks and the training loss the line search for eps evaluates are sums over samples, so each
rank computes them on its shard of the training split and they are all-reduced; every rank
then takes the same decision, inserts the same block with the same eps, and the model is
wrapped anew. Rank 0 alone writes the run directory.
"""

from __future__ import annotations

from dataclasses import dataclass
import os

import torch
from torch import distributed as dist
from torch import nn


@dataclass(frozen=True)
class Group:
    """The processes of one run (rank 0 of 1 without torchrun)."""

    rank: int = 0
    size: int = 1

    @property
    def active(self) -> bool:
        return self.size > 1

    def sum_(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` summed over the ranks, in place (unchanged in one process)."""
        if self.active:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def barrier(self) -> None:
        """Wait for every rank (nothing in one process)."""
        if self.active:
            dist.barrier()

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        """This rank's part of a global batch of sample indices (contiguous, near equal)."""
        return torch.tensor_split(idx, self.size)[self.rank] if self.active else idx

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """``model`` as DistributedDataParallel over the group (itself in one process)."""
        if not self.active:
            return model
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def group(device: str = "cpu") -> Group:
    """The current run's group: under ``torchrun`` (WORLD_SIZE > 1) the process group is
    initialized here on first use (nccl for CUDA devices, gloo otherwise)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return Group()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if str(device).startswith("cuda") else "gloo")
    return Group(dist.get_rank(), dist.get_world_size())


def local_device(device: str) -> str:
    """Under torchrun with CUDA, each rank's own GPU (LOCAL_RANK); else ``device``."""
    if str(device).startswith("cuda") and "LOCAL_RANK" in os.environ:
        return f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return device
