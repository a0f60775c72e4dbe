"""Growable networks. ``build(spec)`` rebuilds any of them from its architecture spec."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import nn

from sciml_grow.errors import InputError
from sciml_grow.nets.base import BlockSpec, GrowableNet
from sciml_grow.nets.cnn import GrowableCNN
from sciml_grow.nets.mlp import GrowableMLP
from sciml_grow.nets.sumnet import SumNet
from sciml_grow.nets.vit import TRANSFORMER, GrowableViT

KINDS: dict[str, type[nn.Module]] = {
    "mlp": GrowableMLP,
    "cnn": GrowableCNN,
    "vit": GrowableViT,
    "sum": SumNet,
}


def build(spec: dict[str, Any]) -> nn.Module:
    """The network described by ``spec`` (fresh weights)."""
    kind = spec.get("kind")
    if kind not in KINDS:
        raise InputError(f"unknown network kind {kind!r} (known: {', '.join(KINDS)})")
    return KINDS[kind].from_spec(spec)


def new_network(
    model: Any, data: Any, blocks: list[BlockSpec], lift_activation: str | None = None
) -> GrowableNet:
    """A fresh network of kind ``model.kind`` (a ModelConfig) for the data's shapes and task:
    image inputs for a CNN, a class head for classification, a field head otherwise."""
    lift = lift_activation or model.lift_activation
    if model.kind == "mlp":
        return GrowableMLP(data.in_dim, data.out_dim, model.width, blocks, lift)
    if data.in_shape is None:
        raise InputError(
            f"model.kind = {model.kind} needs image inputs; {data.path} gives {data.in_dim} "
            "values per sample (set an 'image_shape' attribute on the inputs)"
        )
    head = "classes" if data.task == "classification" else "field"
    if model.kind == "vit":  # standard transformer blocks to start with
        blocks = [replace(b, form=b.form or TRANSFORMER) for b in blocks]
        return GrowableViT(
            data.in_shape,
            data.out_dim,
            model.width,
            blocks,
            model.patch,
            model.heads,
            model.mlp_ratio,
            head,
        )
    return GrowableCNN(data.in_shape, data.out_dim, model.width, blocks, model.kernel, head, lift)


@torch.no_grad()
def gaussian_init(net: nn.Module, std: float) -> None:
    """Weights N(0, std^2), biases 0 (the papers' initializations; PyTorch's otherwise)."""
    for name, p in net.named_parameters():
        if name.endswith("bias"):
            p.zero_()
        else:
            p.normal_(0.0, std)


def spec_depth(spec: dict[str, Any]) -> int:
    """Hidden blocks of the (base) network a spec describes."""
    return spec_depth(spec["members"][0]) if spec["kind"] == "sum" else len(spec["blocks"])


__all__ = [
    "BlockSpec",
    "GrowableCNN",
    "GrowableMLP",
    "GrowableNet",
    "GrowableViT",
    "SumNet",
    "build",
    "gaussian_init",
    "spec_depth",
]
