"""Growth strategies behind one interface; ``get_strategy(name)`` returns a fresh one.

Strategies register here by name and are imported only when asked for (like the problems of
:mod:`pde_data`), so listing and validating names needs no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from sciml_grow.errors import InputError

if TYPE_CHECKING:
    from sciml_grow.growth.strategies import Start, Strategy

STRATEGIES: dict[str, str] = {
    "baseline": "sciml_grow.growth.strategies:Baseline",
    "td": "sciml_grow.growth.strategies:TopologicalDerivative",
    "sensli": "sciml_grow.growth.strategies:SensitivityInsertion",
    "random-1": "sciml_grow.growth.strategies:RandomAtTDPosition",
    "random-2": "sciml_grow.growth.strategies:RandomInsertion",
    "periodic": "sciml_grow.growth.strategies:Periodic",
    "net2deeper": "sciml_grow.growth.strategies:Net2Deeper",
    "forward-thinking": "sciml_grow.growth.strategies:ForwardThinking",
    "layerwise": "sciml_grow.growth.layerwise:Layerwise",
    "layerwise+srl": "sciml_grow.growth.layerwise:LayerwiseSRL",
    "finetune": "sciml_grow.growth.finetune:FineTune",
    # not a way of growing: a search over fixed networks, each trial a training run
    "search": "sciml_grow.training.search:Search",
}


def get_strategy(name: str, start: Start | None = None) -> Strategy:
    """A new instance of the strategy registered as ``name``, starting from ``start`` (what
    the trainer resolved from other runs; see :class:`~sciml_grow.growth.strategies.Start`)."""
    if name not in STRATEGIES:
        raise InputError(f"unknown strategy {name!r} (choices: {', '.join(STRATEGIES)})")
    module, _, cls = STRATEGIES[name].partition(":")
    return getattr(importlib.import_module(module), cls)(start)


__all__ = ["STRATEGIES", "get_strategy"]
