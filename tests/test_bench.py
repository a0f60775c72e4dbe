"""Named benchmarks: declarations, a fixed split stored in the data, a small benchmark end to
end through the command, and a card that refuses data its numbers were not measured on."""

from __future__ import annotations

import json
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch

from sciml_grow.bench import BUILTIN, check_card, data_summary, get_benchmark
from sciml_grow.data.dataset import DataConfig, split_indices
from sciml_grow.errors import InputError
from sciml_grow.format import seeded_parts

from .conftest import needs_fenicsx, run_cli

SMALL = """
name = "tiny-heat"
version = 2
regime = "a test: 60 samples on an 8 x 8 mesh"

[data]
problem = "heat"
samples = 60
seed = 3
split = [0.2, 0.1]
config = { mesh_cells = 8 }

[protocol]
strategies = ["baseline", "td"]
seeds = 2

[train]
epochs = 15
model = { width = 8, initial_blocks = 1 }
growth = { max_blocks = 2, every = 5, patience = 3, min_phase_epochs = 3 }
"""


@pytest.mark.parametrize("n", [10, 48, 101, 2000])
def test_a_stored_seeded_split_is_the_split_readers_draw_without_one(n):
    cfg = DataConfig(test_fraction=0.2, val_fraction=0.15)
    drawn = split_indices(n, cfg)
    stored = split_indices(n, cfg, seeded_parts(n, 0.2, 0.15))
    assert all(np.array_equal(drawn[k], stored[k]) for k in drawn)
    sub = DataConfig(test_fraction=0.2, val_fraction=0.15, max_train=5, subset_seed=1)
    assert all(
        np.array_equal(
            split_indices(n, sub)[k], split_indices(n, sub, seeded_parts(n, 0.2, 0.15))[k]
        )
        for k in drawn
    )


def test_every_builtin_benchmark_is_a_valid_declaration():
    assert {"heat-demo", "heat-capacity", "paper-td-heat", "paper-layerwise-kl12"} <= set(BUILTIN)
    for name in BUILTIN:
        b = get_benchmark(name)
        assert b.name == name and b.version >= 1 and b.regime


def test_a_bad_declaration_is_one_line_naming_the_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(SMALL.replace("seeds = 2", "seeds = 0"))
    with pytest.raises(InputError, match="protocol.seeds: must be >= 1"):
        get_benchmark(bad)
    bad.write_text(SMALL.replace('"td"]', '"grow-fast"]'))
    with pytest.raises(InputError, match="'grow-fast' is not one of"):
        get_benchmark(bad)
    with pytest.raises(InputError, match="unknown benchmark 'nope'"):
        get_benchmark("nope")


def _data(sha: str, scale: float = 1.0) -> SimpleNamespace:
    """What check_card reads of a dataset: its SHA-256 and its inputs and targets."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 4, generator=g, dtype=torch.float64), torch.rand(30, 6, generator=g)
    return SimpleNamespace(fingerprint=sha, x=x * scale, y=y.double())


def test_a_card_refuses_another_version_or_other_data():
    b = get_benchmark("heat-demo")
    card = {"version": b.version, "data_sha256": "abc", "data_summary": data_summary(_data("abc"))}
    assert check_card(b, _data("abc"), card) == "bitwise"
    with pytest.raises(InputError, match="the generated data differ"):
        check_card(b, _data("abd", 1 + 1e-4), card)  # a generator that changed its numbers
    with pytest.raises(InputError, match="its card was measured on version 0"):
        check_card(b, _data("abc"), {**card, "version": 0})


def test_a_card_accepts_the_same_data_rounded_by_another_machine():
    """Another machine may round the generator's arithmetic differently: the SHA-256
    differs, the card's numeric summary agrees to 1e-12 (within 1e-6), the data are accepted
    and the check says so; a card without a summary refuses them."""
    b = get_benchmark("heat-demo")
    card = {"version": b.version, "data_sha256": "abc", "data_summary": data_summary(_data("abc"))}
    assert check_card(b, _data("abd", 1 + 1e-12), card) == "within 1e-06 of the card's summary"
    with pytest.raises(InputError, match="the generated data differ"):
        check_card(b, _data("abd", 1 + 1e-12), {**card, "data_summary": None})
    summary = data_summary(_data("abc"))
    assert set(summary) == {"inputs", "targets"} and len(summary["inputs"]) == 2 + 16


@needs_fenicsx
def test_a_small_benchmark_runs_end_to_end_and_reproduces(tmp_path, monkeypatch):
    decl = tmp_path / "tiny.toml"
    decl.write_text(SMALL)
    r = run_cli("benchmark", "run", str(decl), "--out", str(tmp_path / "b"), "--no-plots")
    assert r.returncode == 0, r.stderr
    data = tmp_path / "b" / "tiny-heat-v2.h5"
    with h5py.File(data) as f:  # the fixed split is in the file
        parts = f["split"][()]
    assert np.array_equal(parts, seeded_parts(60, 0.2, 0.1))
    results = (tmp_path / "b" / "compare" / "results.csv").read_text()
    assert results.count("\n") == 1 + 4  # 2 strategies x 2 seeds
    # the same data on 2 ranks, bit for bit, into another folder
    r = run_cli("benchmark", "run", str(decl), "--out", str(tmp_path / "c"), "--no-plots",
                "--seeds", "1", ranks=2)  # fmt: skip
    assert r.returncode == 0, r.stderr
    with h5py.File(data) as a, h5py.File(tmp_path / "c" / "tiny-heat-v2.h5") as b:
        assert np.array_equal(a["inputs"][()], b["inputs"][()])
        assert np.array_equal(a["targets"][()], b["targets"][()])
    # a card measured on other data refuses the run, before any training
    from sciml_grow import api
    from sciml_grow.bench import registry

    bench = get_benchmark(decl)
    loaded = api.load(data)
    assert registry.check_card(bench, loaded, {"version": 2, "data_sha256": loaded.fingerprint})
    streamed = data_summary(api.load(data, in_memory=False))  # read in blocks: the same numbers
    for key, values in data_summary(loaded).items():
        np.testing.assert_allclose(streamed[key], values, rtol=1e-12)
    card = {"version": 2, "data_sha256": "0" * 64}
    with pytest.raises(InputError, match="the generated data differ"):
        registry.check_card(bench, loaded, card)
    monkeypatch.setattr(registry.Benchmark, "card", property(lambda self: card))
    with pytest.raises(InputError, match="the generated data differ"):
        api.run_benchmark(decl, out=tmp_path / "d", data=data, plots=False)
    assert not (tmp_path / "d" / "compare").exists()
    # every built-in benchmark has a card the tool measured, for the declaration's version
    # (a version raised without measuring the card again fails here, not in a user's run)
    for name in BUILTIN:
        real = json.loads((registry.HERE / "cards" / f"{name}.json").read_text())
        assert real["version"] == get_benchmark(name).version, name
        assert len(real["data_sha256"]) == 64 and real["data_summary"], name
    r = run_cli("benchmark", "list")
    assert r.returncode == 0 and "heat-demo (version 1)" in r.stdout


def test_unknown_benchmark_on_the_command_line(tmp_path):
    r = run_cli("benchmark", "run", "nope", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "unknown benchmark 'nope'" in r.stderr
    assert not (tmp_path / "x").exists()
