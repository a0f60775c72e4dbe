"""Typed, validated configuration from nested dataclasses.

Configs come from defaults, an optional JSON/TOML file and ``key.sub=value`` overrides, in that
order. Unknown keys and values of the wrong type are refused with a message naming the key, so
a typo never silently falls back to a default. The same machinery serves the data generators
and the trainer.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
from pathlib import Path
import tomllib
import types
import typing
from typing import Any, Literal

import numpy as np

from sciml_grow.errors import UserError

MAX_SEED = 2**32 - 1  # seeds of data generation and training lie in 0..MAX_SEED


class ConfigError(UserError, ValueError):
    """A configuration key or value is invalid; the message names it."""


class Validated:
    """Base of every config dataclass: values are type-checked (and coerced, e.g. int to float
    for a float field) and validated when the config is built, from Python or from a file,
    with the same one-line message the command prints."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            object.__setattr__(self, f.name, _coerce(hints[f.name], value, f.name))
        self.validate()

    def validate(self) -> None:
        """Cross-field and range checks (override); raise ConfigError via :func:`check`."""


def check(condition: bool, key: str, message: str) -> None:
    """Raise ConfigError(``key: message``) unless ``condition``; for ``validate`` methods."""
    if not condition:
        raise ConfigError(f"{key}: {message}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ConfigError(f"key {key} is given twice")
        seen[key] = value
    return seen


def strict_json(text: str) -> Any:
    """JSON text as Python values; a key given twice in one object is refused (TOML refuses it
    too), where plain ``json.loads`` would silently keep the last value."""
    return json.loads(text, object_pairs_hook=_no_duplicates)


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a config file (``.json`` or ``.toml``, any case) into a dict."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        raise ConfigError(f"config file {path}: YAML is not read here; write it as TOML or JSON")
    kind = "TOML" if suffix == ".toml" else "JSON"
    try:
        data = tomllib.loads(text) if kind == "TOML" else strict_json(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, ConfigError) as exc:
        raise ConfigError(f"config file {path} is not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with ``a.b=value`` overrides applied (values parsed as JSON)."""
    out = json.loads(json.dumps(data))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        try:
            value = strict_json(raw)
        except json.JSONDecodeError:
            value = raw
        except ConfigError as exc:
            raise ConfigError(f"override {item!r}: {exc}") from None
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part} is not a section")
        node[leaf] = value
    return out


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` on top, sections merged key by key (neither is changed)."""
    out = json.loads(json.dumps(base))
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = json.loads(json.dumps(value))
    return out


def from_dict[T](cls: type[T], data: dict[str, Any] | None = None, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, checking keys and types, then ``validate()``."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = prefix.rstrip(".") or "config"
        raise ConfigError(
            f"unknown key {prefix}{unknown[0]} in {where} (allowed: {', '.join(sorted(fields))})"
        )
    required = [
        name
        for name, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if name not in data]
    if missing:
        where = prefix.rstrip(".") or "config"
        raise ConfigError(f"{where}: missing key {missing[0]} (required: {', '.join(required)})")
    hints = typing.get_type_hints(cls)
    kwargs = {name: _coerce(hints[name], data[name], prefix + name) for name in data}
    obj = cls(**kwargs)
    if not isinstance(obj, Validated):  # a Validated config checked itself when built
        validate = getattr(obj, "validate", None)
        if validate is not None:
            validate()
    return obj


def differences(theirs: Any, ours: Any, where: str, prefix: str = "") -> list[str]:
    """The dotted keys in which two nested dicts differ, each as "key: WHERE has X, this run
    asks for Y" (what a refusal to reuse an output made otherwise names)."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        out: list[str] = []
        for key in sorted(set(theirs) | set(ours)):
            out += differences(theirs.get(key), ours.get(key), where, f"{prefix}{key}.")
        return out
    if theirs == ours:
        return []
    return [f"{prefix.rstrip('.')}: {where} has {theirs!r}, this run asks for {ours!r}"]


def to_dict(obj: Any) -> dict[str, Any]:
    """Plain-JSON dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(obj)))


def to_json(obj: Any) -> str:
    """Canonical JSON text of a config (sorted keys): equal configs give equal strings."""
    return json.dumps(to_dict(obj), sort_keys=True)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):  # built (and validated) already
            return value
        return from_dict(tp, value, key + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0])
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{key}: expected {len(args)} entries, got {len(value)}")
            return tuple(
                _coerce(a, v, f"{key}[{i}]")
                for i, (a, v) in enumerate(zip(args, value, strict=True))
            )
        inner = args[0] if args else Any
        items = [_coerce(inner, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:  # a free-form table (a section another config validates)
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:  # numpy integers too (np.int64(8) is 8), never a bool
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if isinstance(value, np.str_):
            value = str(value)
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported config type {tp!r}")
