"""Config parsing: defaults, overrides, and refusal of unknown keys and wrong values."""

from dataclasses import dataclass, field
from typing import Literal

import pytest

from sciml_grow.config import ConfigError, apply_overrides, check, from_dict, load_file, to_json


@dataclass
class Inner:
    rate: float = 0.5
    names: list[str] | None = None

    def validate(self) -> None:
        check(self.rate > 0, "inner.rate", "must be positive")


@dataclass
class Outer:
    n: int = 3
    kind: Literal["a", "b"] = "a"
    flag: bool = False
    inner: Inner = field(default_factory=Inner)


def test_defaults_and_nested_values():
    cfg = from_dict(Outer, {"n": 5, "inner": {"rate": 2, "names": ["x"]}})
    assert cfg.n == 5 and cfg.inner.rate == 2.0 and isinstance(cfg.inner.rate, float)
    assert cfg.inner.names == ["x"] and cfg.kind == "a"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"m": 1}, "unknown key m"),
        ({"inner": {"rte": 1}}, "unknown key inner.rte"),
        ({"n": 1.5}, "n: expected an integer"),
        ({"n": True}, "n: expected an integer"),
        ({"kind": "c"}, "kind: 'c' is not one of"),
        ({"flag": 1}, "flag: expected true or false"),
        ({"inner": {"rate": -1.0}}, "inner.rate: must be positive"),
        ({"inner": {"rate": float("nan")}}, "expected a finite number"),
        ({"inner": 3}, "inner: expected a mapping"),
    ],
)
def test_bad_values_name_the_key(data, fragment):
    with pytest.raises(ConfigError, match=fragment):
        from_dict(Outer, data)


def test_overrides_parse_json_values_and_nest():
    data = apply_overrides({"n": 1}, ["inner.rate=0.25", "kind=b", 'inner.names=["p","q"]'])
    cfg = from_dict(Outer, data)
    assert cfg.inner.rate == 0.25 and cfg.kind == "b" and cfg.inner.names == ["p", "q"]
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["novalue"])


def test_canonical_json_is_order_independent():
    a = from_dict(Outer, {"n": 2, "kind": "b"})
    b = from_dict(Outer, {"kind": "b", "n": 2})
    assert to_json(a) == to_json(b)
    assert to_json(a) != to_json(from_dict(Outer, {"n": 3, "kind": "b"}))


def test_config_files(tmp_path):
    (tmp_path / "c.toml").write_text("n = 4\n[inner]\nrate = 0.1\n")
    (tmp_path / "c.json").write_text('{"n": 4, "inner": {"rate": 0.1}}')
    assert load_file(tmp_path / "c.toml") == load_file(tmp_path / "c.json")
    (tmp_path / "bad.json").write_text("{n: 4")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_file(tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="cannot read"):
        load_file(tmp_path / "missing.json")


@pytest.mark.parametrize("activation", ["relu", "silu2-tanh"])
def test_sensli_refuses_an_activation_a_zero_block_cannot_move_at_first_order(activation):
    from sciml_grow.training.config import TrainConfig

    with pytest.raises(ConfigError, match="model.activation: strategy sensli needs sigma'"):
        from_dict(TrainConfig, {"strategy": "sensli", "model": {"activation": activation}})
    assert from_dict(TrainConfig, {"strategy": "sensli"}).model.activation == "tanh"
