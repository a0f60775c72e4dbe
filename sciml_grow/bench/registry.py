"""Benchmarks as declarations: a TOML file says which problem, generator settings, sample
count, seed and fixed split make the data, and which comparison protocol (strategies, training
sizes, seeds, references, training config) runs on it. The built-in ones live in ``defs/``;
a user's own is a TOML file of the same shape, given by its path (data, never code: its
problem is a registered name, its name a plain slug that no path can hide in).

Each benchmark has a version. Its reference card (``cards/NAME.json``, measured once by
``tools/benchmark_card.py`` and committed) records the version, the SHA-256 of the data it was
measured on and a numeric summary of them; a run whose declaration has another version, or
whose freshly generated data differ (a changed generator), is refused against that card.
The data are bitwise the same on any number of ranks of one machine, not across machines: the
summary tolerates rounding (rtol 1e-6), a changed generator moves it further (docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import hashlib
import json
import math
from pathlib import Path
import re
import tomllib
from typing import Any

from sciml_grow.config import ConfigError, check, from_dict
from sciml_grow.errors import InputError, arg
from sciml_grow.format import part_sizes
from sciml_grow.growth import STRATEGIES
from sciml_grow.training.config import TrainConfig

SUMMARY_RTOL = 1e-6  # heat regenerated on another machine: its ridge error equal to 1e-16
SUMMARY_SAMPLES = 16

HERE = Path(__file__).parent
BUILTIN = {p.stem: p for p in sorted((HERE / "defs").glob("*.toml"))}
SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # a name, never a path
SET_BY_PROTOCOL = ("strategy", "seed")  # [train] keys the protocol sets for every run


@dataclass
class DataSpec:
    """How the benchmark's data file is made (``sciml-grow generate`` with these values)."""

    problem: str = "heat"
    samples: int = 1000
    seed: int = 0
    split: list[float] = field(default_factory=lambda: [0.1, 0.1])  # test, validation
    config: dict[str, Any] = field(default_factory=dict)  # the generator's --set values

    def validate(self) -> None:
        check(
            bool(SLUG.fullmatch(self.problem)),
            "data.problem",
            f"{self.problem!r} is not a registered problem's name (heat, navier_stokes, wind, "
            "or one an installed package registers); a declaration never names code",
        )
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
        _distinct(self.strategies, "protocol.strategies")
        check(self.seeds >= 1, "protocol.seeds", "must be >= 1")
        check(
            self.train_sizes is None or all(n >= 2 for n in self.train_sizes),
            "protocol.train_sizes",
            "must be at least 2",
        )
        _distinct(self.train_sizes or [], "protocol.train_sizes")
        check(self.reference_samples >= 0, "protocol.reference_samples", "must be >= 0")
        check(self.floor_samples >= 0, "protocol.floor_samples", "must be >= 0")


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
        check(
            bool(SLUG.fullmatch(self.name)),
            "name",
            f"{self.name!r} must be a plain name (letters, digits, - and _; at most 64): it "
            "names the data file",
        )
        check(self.version >= 1, "version", "must be >= 1")
        for key in SET_BY_PROTOCOL:
            check(key not in self.train, f"train.{key}", "the protocol sets it; remove it")
        n_train, _, n_test = part_sizes(self.data.samples, *self.data.split)
        for n in self.protocol.train_sizes or []:
            check(
                n <= n_train,
                "protocol.train_sizes",
                f"{n} is more than the {n_train} training samples of data.samples = "
                f"{self.data.samples}",
            )
        for key in ("reference_samples", "floor_samples"):
            n = getattr(self.protocol, key)
            check(
                n <= n_test,
                f"protocol.{key}",
                f"{n} is more than the {n_test} test samples of data.samples = {self.data.samples}",
            )
        for s in self.protocol.strategies:  # the strategies and the training config are valid
            self.train_config(s)

    def train_config(self, strategy: str) -> TrainConfig:
        """The training config of one of the protocol's strategies (or ``[train]``'s
        variants); ConfigError naming the key."""
        variants = self.train.get("variants", {})
        settings = {k: v for k, v in self.train.items() if k != "variants"}
        name = variants.get(strategy, {}).get("strategy", strategy)
        return from_dict(TrainConfig, {**settings, "strategy": name})

    @property
    def builtin(self) -> bool:
        """Whether this is the package's own declaration (a user's file of the same name is
        not)."""
        own = BUILTIN.get(self.name)
        return own is not None and Path(self.source).resolve() == own.resolve()

    @property
    def card(self) -> dict[str, Any] | None:
        """The reference card measured on this built-in benchmark, if one is committed (a
        user's declaration has none, whatever its name)."""
        return read_card(self.name) if self.builtin else None

    def record(self) -> dict[str, Any]:
        """What a run records of its benchmark: name, version and the declaration (built in,
        or the user's file with its SHA-256)."""
        path = Path(self.source)
        return {
            "benchmark": self.name,
            "version": self.version,
            "declaration": "built in" if self.builtin else str(path.resolve()),
            "declaration_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        }

    def plan(
        self,
        strategies: Any = None,
        seeds: Any = None,
        train_sizes: Any = None,
        epochs: Any = None,
    ) -> dict[str, Any]:
        """The protocol with a caller's narrowing (None: the declaration's value), checked
        before any data are made; an argument given is used as given (0 or an empty list
        are refused, never read as "the protocol's")."""
        proto = self.protocol
        if strategies is None:
            strategies = list(proto.strategies)
        if isinstance(strategies, str):
            strategies = strategies.split(",")
        names = [str(s).strip().lower() for s in strategies]
        if not names or not all(names):
            raise InputError(f"{arg('strategies')}: name at least one strategy, got {strategies!r}")
        _distinct(names, arg("strategies"))
        variants = self.train.get("variants", {})
        for s in names:
            known = s in proto.strategies or s in variants or s in STRATEGIES
            if not known or s == "finetune":
                raise InputError(
                    f"{arg('strategies')}: unknown {s} (the protocol's: "
                    f"{', '.join(proto.strategies)})"
                )
            try:
                self.train_config(s)
            except ConfigError as exc:
                raise InputError(f"benchmark {self.name}: {exc}") from None
        seeds = proto.seeds if seeds is None else seeds
        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
            raise InputError(f"{arg('seeds')} must be an integer >= 1, got {seeds!r}")
        if epochs is not None and (
            isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1
        ):
            raise InputError(f"{arg('epochs')} must be an integer >= 1, got {epochs!r}")
        if train_sizes is None:
            sizes = None if proto.train_sizes is None else list(proto.train_sizes)
        else:
            sizes = list(train_sizes)
            n_train = part_sizes(self.data.samples, *self.data.split)[0]
            if not sizes or len(set(sizes)) != len(sizes):
                raise InputError(f"{arg('train_sizes')}: give distinct sizes, got {sizes}")
            for n in sizes:
                if n is not None and not (isinstance(n, int) and 2 <= n <= n_train):
                    raise InputError(
                        f"{arg('train_sizes')}: {n} is not a size in 2..{n_train} (the "
                        f"training part of benchmark {self.name})"
                    )
        return {"strategies": names, "seeds": seeds, "train_sizes": sizes, "epochs": epochs}


def _distinct(values: list[Any], key: str) -> None:
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    check(not repeated, key, f"{', '.join(repeated)} given twice; name each once")


def get_benchmark(spec: str | Path) -> Benchmark:
    """A built-in benchmark by name, or a user's declaration by the path of its TOML file
    (recorded as that file, never as a built-in of the same name)."""
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
    """The committed reference card of built-in benchmark ``name`` (None if it has none
    yet); cards are read from the package only."""
    if name not in BUILTIN:
        return None
    path = HERE / "cards" / f"{name}.json"
    if not path.is_file():
        return None
    try:
        card = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"card {path}: not readable JSON ({exc})") from None
    if not isinstance(card, dict):
        raise InputError(f"card {path}: not a JSON object")
    return card


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
