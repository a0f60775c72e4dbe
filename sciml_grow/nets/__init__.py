"""Growable networks. ``build(spec)`` rebuilds any of them from its architecture spec."""

from __future__ import annotations

from typing import Any

from torch import nn

from sciml_grow.nets.mlp import BlockSpec, GrowableMLP

KINDS: dict[str, type[nn.Module]] = {"mlp": GrowableMLP}


def build(spec: dict[str, Any]) -> nn.Module:
    """The network described by ``spec`` (fresh weights)."""
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unknown network kind {kind!r} (known: {', '.join(KINDS)})")
    return KINDS[kind].from_spec(spec)


__all__ = ["BlockSpec", "GrowableMLP", "build"]
