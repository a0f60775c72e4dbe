"""Growable networks. ``build(spec)`` rebuilds any of them from its architecture spec."""

from __future__ import annotations

from typing import Any

from torch import nn

from sciml_grow.nets.base import BlockSpec, GrowableNet
from sciml_grow.nets.cnn import GrowableCNN
from sciml_grow.nets.mlp import GrowableMLP
from sciml_grow.nets.sumnet import SumNet

KINDS: dict[str, type[nn.Module]] = {"mlp": GrowableMLP, "cnn": GrowableCNN, "sum": SumNet}


def build(spec: dict[str, Any]) -> nn.Module:
    """The network described by ``spec`` (fresh weights)."""
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unknown network kind {kind!r} (known: {', '.join(KINDS)})")
    return KINDS[kind].from_spec(spec)


def spec_depth(spec: dict[str, Any]) -> int:
    """Hidden blocks of the (base) network a spec describes."""
    return spec_depth(spec["members"][0]) if spec["kind"] == "sum" else len(spec["blocks"])


__all__ = [
    "BlockSpec",
    "GrowableCNN",
    "GrowableMLP",
    "GrowableNet",
    "SumNet",
    "build",
    "spec_depth",
]
