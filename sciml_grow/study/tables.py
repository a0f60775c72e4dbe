"""Markdown tables, the one way every study writes them (table.md of compare and transfer)."""

from __future__ import annotations

from collections.abc import Iterable


def row(cells: Iterable[str]) -> str:
    """One table row: ``| a | b |``."""
    return "| " + " | ".join(cells) + " |"


def header(head: list[str]) -> list[str]:
    """The header row and the separator under it."""
    return [row(head), "|" + "---|" * len(head)]
