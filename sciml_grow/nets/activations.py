"""Activations by name, with the value of sigma''(0) the topological derivative needs.

A block inserted by the topological derivative must satisfy sigma(0) = sigma'(0) = 0 and
sigma''(0) != 0: then a zero block is the identity, the first-order change of the loss vanishes
and the leading term is the quadratic form the eigenproblem maximizes. ``silu2-tanh``,
2 SiLU(x) - tanh(x), is such a function with sigma''(0) = 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sciml_grow.errors import InputError


@dataclass(frozen=True)
class Activation:
    fn: Callable[[torch.Tensor], torch.Tensor]
    d1_at_zero: float  # sigma'(0)
    d2_at_zero: float  # sigma''(0)


ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation(torch.tanh, 1.0, 0.0),
    "elu": Activation(F.elu, 1.0, float("nan")),  # sigma'' jumps at 0
    "relu": Activation(torch.relu, float("nan"), 0.0),
    "silu2-tanh": Activation(lambda x: 2.0 * F.silu(x) - torch.tanh(x), 0.0, 1.0),
    "identity": Activation(lambda x: x, 1.0, 0.0),
}


def get_activation(name: str) -> Activation:
    """The activation registered as ``name``; ValueError listing the choices otherwise."""
    if name not in ACTIVATIONS:
        raise InputError(f"unknown activation {name!r} (choices: {', '.join(ACTIVATIONS)})")
    return ACTIVATIONS[name]
