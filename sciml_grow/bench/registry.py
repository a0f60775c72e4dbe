"""Benchmarks as declarations: a TOML file says which problem, generator settings, sample
count, seed and fixed split make the data, and which comparison protocol (strategies, training
sizes, seeds, references, training config) runs on it. The built-in ones live in ``defs/``;
a user's own is a TOML file of the same shape, given by its path (data, never code).

Each benchmark has a version. Its reference card (``cards/NAME.json``, measured once by
``tools/benchmark_card.py`` and committed) records the version, the SHA-256 of the data it was
measured on and a numeric summary of them; a run whose declaration has another version, or
whose freshly generated data differ (a changed generator), is refused against that card.
The data are bitwise the same on any number of ranks of one machine, not across machines: the
summary tolerates rounding (rtol 1e-6), a changed generator moves it further (docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
import math
from pathlib import Path
import tomllib
from typing import Any

from sciml_grow.config import ConfigError, check, from_dict
from sciml_grow.errors import InputError
from sciml_grow.training.config import TrainConfig

SUMMARY_RTOL = 1e-6  # heat regenerated on another machine: its ridge error equal to 1e-16
SUMMARY_SAMPLES = 16

HERE = Path(__file__).parent
BUILTIN = {p.stem: p for p in sorted((HERE / "defs").glob("*.toml"))}


@dataclass
class DataSpec:
    """How the benchmark's data file is made (``sciml-grow generate`` with these values)."""

    problem: str = "heat"
    samples: int = 1000
    seed: int = 0
    split: list[float] = field(default_factory=lambda: [0.1, 0.1])  # test, validation
    config: dict[str, Any] = field(default_factory=dict)  # the generator's --set values

    def validate(self) -> None:
        check(self.samples >= 10, "data.samples", "must be at least 10")
        check(self.seed >= 0, "data.seed", "must be >= 0")
        check(
            len(self.split) == 2 and all(0 < v < 1 for v in self.split),
            "data.split",
            "must be [test fraction, validation fraction], each in (0, 1)",
        )


@dataclass
class Protocol:
    """The comparison the benchmark defines (``sciml-grow compare`` with these values)."""

    strategies: list[str] = field(default_factory=lambda: ["baseline", "td"])
    train_sizes: list[int] | None = None  # None: the whole training part
    seeds: int = 10
    reference_samples: int = 0
    floor_samples: int = 0

    def validate(self) -> None:
        check(bool(self.strategies), "protocol.strategies", "must name at least one")
        check(self.seeds >= 1, "protocol.seeds", "must be >= 1")
        check(
            self.train_sizes is None or all(n > 0 for n in self.train_sizes),
            "protocol.train_sizes",
            "must be positive",
        )


@dataclass
class Benchmark:
    """A named, versioned benchmark: data, protocol, training config and what regime it is."""

    name: str
    version: int = 1
    regime: str = ""  # what kind of regime, and why (the card repeats it)
    data: DataSpec = field(default_factory=DataSpec)
    protocol: Protocol = field(default_factory=Protocol)
    train: dict[str, Any] = field(default_factory=dict)  # compare's --config
    source: str = ""  # the declaration's file

    def validate(self) -> None:
        check(bool(self.name), "name", "must be given")
        check(self.version >= 1, "version", "must be >= 1")
        variants = self.train.get("variants", {})
        settings = {k: v for k, v in self.train.items() if k != "variants"}
        for s in self.protocol.strategies:  # the strategies and the training config are valid
            from_dict(TrainConfig, {**settings, "strategy": variants.get(s, {}).get("strategy", s)})

    @property
    def card(self) -> dict[str, Any] | None:
        """The reference card measured on this benchmark, if one is committed."""
        return read_card(self.name)


def get_benchmark(spec: str | Path) -> Benchmark:
    """A built-in benchmark by name, or a user's declaration by the path of its TOML file."""
    path = BUILTIN.get(str(spec))
    if path is None:
        path = Path(spec)
        if path.suffix != ".toml" or not path.is_file():
            raise InputError(
                f"unknown benchmark {str(spec)!r} (built in: {', '.join(BUILTIN)}; or the path "
                "of your own benchmark's .toml file)"
            )
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"benchmark {path}: cannot read it ({exc})") from None
    try:
        bench = from_dict(Benchmark, {**raw, "source": str(path)})
    except ConfigError as exc:
        raise InputError(f"benchmark {path}: {exc}") from None
    if path.parent == HERE / "defs" and bench.name != path.stem:
        raise InputError(f"benchmark {path}: its name must be {path.stem!r}")
    return bench


def read_card(name: str) -> dict[str, Any] | None:
    """The committed reference card of benchmark ``name`` (None if it has none yet)."""
    path = HERE / "cards" / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def data_summary(data: Any) -> dict[str, list[float]]:
    """Numbers that identify a dataset across machines: for its inputs and targets, the mean
    and mean square of every entry and the L2 norms of the first 16 samples (streamed in
    blocks for a file larger than memory)."""
    out = {}
    for key, t in (("inputs", data.x), ("targets", data.y)):
        blocks = t.blocks() if hasattr(t, "blocks") else [(slice(0, len(t)), t)]
        total = square = 0.0
        for _, block in blocks:
            b = block.double()
            total, square = total + b.sum().item(), square + (b * b).sum().item()
        head = t[:SUMMARY_SAMPLES].double()
        count = float(math.prod(t.shape))
        out[key] = [
            total / count,
            square / count,
            *head.reshape(len(head), -1).norm(dim=1).tolist(),
        ]
    return out


def _agree(card: dict[str, list[float]], mine: dict[str, list[float]]) -> bool:
    """Whether two summaries agree to SUMMARY_RTOL (relative to each array's RMS)."""
    for key, theirs in card.items():
        ours = mine.get(key)
        if ours is None or len(ours) != len(theirs):
            return False
        scale = max(abs(theirs[1]) ** 0.5, 1e-300)
        pairs = zip(theirs, ours, strict=True)
        if any(abs(a - b) > SUMMARY_RTOL * max(abs(a), scale) for a, b in pairs):
            return False
    return True


def check_card(bench: Benchmark, data: Any, card: dict[str, Any] | None = None) -> str:
    """Refuse data or a declaration that are not what the benchmark's card was measured on;
    how the data match it: "bitwise", "within ... of the card's summary" (another machine's
    rounding) or "no card"."""
    card = bench.card if card is None else card
    if card is None:
        return "no card"
    if card.get("version") != bench.version:
        raise InputError(
            f"benchmark {bench.name}: version {bench.version}, but its card was measured on "
            f"version {card.get('version')}; measure the card again (tools/benchmark_card.py)"
        )
    if card.get("data_sha256") == data.fingerprint:
        return "bitwise"
    summary = card.get("data_summary")
    if summary and _agree(summary, data_summary(data)):
        return f"within {SUMMARY_RTOL:g} of the card's summary"
    raise InputError(
        f"benchmark {bench.name} v{bench.version}: the generated data differ from those its "
        "card was measured on (the generator changed); give the benchmark a new version "
        "and measure its card again (tools/benchmark_card.py)"
    )
