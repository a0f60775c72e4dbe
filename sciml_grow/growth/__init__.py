"""Growth strategies behind one interface; ``get_strategy(name)`` returns a fresh one."""

from __future__ import annotations

from sciml_grow.growth.finetune import FineTune
from sciml_grow.growth.layerwise import Layerwise, LayerwiseSRL
from sciml_grow.growth.strategies import (
    Baseline,
    ForwardThinking,
    GrowthContext,
    GrowthEvent,
    Net2Deeper,
    RandomAtTDPosition,
    RandomInsertion,
    Strategy,
    TopologicalDerivative,
)

STRATEGIES: dict[str, type[Strategy]] = {
    s.name: s
    for s in (
        Baseline,
        TopologicalDerivative,
        RandomAtTDPosition,
        RandomInsertion,
        Net2Deeper,
        ForwardThinking,
        Layerwise,
        LayerwiseSRL,
        FineTune,
    )
}


def get_strategy(name: str) -> Strategy:
    """A new instance of the strategy registered as ``name``."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r} (choices: {', '.join(STRATEGIES)})")
    return STRATEGIES[name]()


__all__ = ["STRATEGIES", "GrowthContext", "GrowthEvent", "Strategy", "get_strategy"]
