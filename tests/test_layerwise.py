"""Layerwise training, its regularizers, and sequential residual learning."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from sciml_grow.data.dataset import Dataset
from sciml_grow.growth import get_strategy
from sciml_grow.growth.layerwise import prune, sparsity
from sciml_grow.growth.strategies import GrowthContext
from sciml_grow.nets import SumNet
from sciml_grow.objective import ManifoldGraph
from sciml_grow.training.rundir import RunDir
from sciml_grow.training.trainer import Trainer

from .conftest import quick_config


def trainer(path, tmp_path, **extra) -> Trainer:
    cfg = quick_config(**extra)
    return Trainer(cfg, Dataset(path, cfg.data), RunDir(tmp_path / "run"), progress=False)


def trained(path, tmp_path, **extra) -> tuple[Trainer, torch.Tensor]:
    """A finished short run without pruning, and its validation outputs."""
    t = trainer(path, tmp_path, **{"layerwise.prune_tol": 0.0, **extra})
    t.run_training()
    with torch.no_grad():
        return t, t.model(t.x_val)


def grow(t: Trainer) -> None:
    t.state.growing = True
    event = t._grow(t._val_loss())
    assert event.inserted, event.reason


def test_manifold_penalty_is_zero_for_equal_features_and_has_the_right_gradient():
    torch.manual_seed(0)
    graph = ManifoldGraph(groups=torch.tensor([0, 0, 1, 1, 1, 2]))
    idx = torch.arange(6)
    same = torch.ones(6, 4, dtype=torch.float64) * torch.tensor([1.0, -2.0, 0.5, 3.0])
    assert float(graph.penalty(same, idx)) == 0.0
    h = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    # the definition, pair by pair
    direct = (
        sum(
            ((h[i] - h[j]) ** 2).sum()
            for i in range(6)
            for j in range(6)
            if graph.groups[i] == graph.groups[j]
        )
        / 36
    )
    assert float(graph.penalty(h, idx).detach()) == pytest.approx(float(direct.detach()), rel=1e-12)
    (grad,) = torch.autograd.grad(graph.penalty(h, idx), h)
    v = torch.randn_like(h)
    eps = 1e-6
    with torch.no_grad():
        fd = (graph.penalty(h + eps * v, idx) - graph.penalty(h - eps * v, idx)) / (2 * eps)
    assert float((grad * v).sum()) == pytest.approx(float(fd), rel=1e-7)


def test_knn_and_kmeans_graphs():
    gen = torch.Generator().manual_seed(1)
    x = torch.cat([torch.randn(30, 2, generator=gen) - 5, torch.randn(30, 2, generator=gen) + 5])
    km = ManifoldGraph.kmeans(x.double(), 2, gen)
    assert len(set(km.groups[:30].tolist())) == 1 and km.groups[0] != km.groups[-1]
    nn_graph = ManifoldGraph.knn(x, 4)
    w = nn_graph.weights
    assert (abs(w - w.T)).max() == 0  # symmetric
    assert (w[:30][:, 30:]).nnz == 0  # no edges across the two far-apart clouds
    assert min(row.nnz for row in w) >= 4


def test_noisy_copy_graph_has_the_configured_size(heat_train_file, tmp_path):
    t = trainer(heat_train_file, tmp_path, strategy="layerwise", **{"layerwise.copies": 4})
    n_train = len(t.data.splits["train"])
    obj = t.objective
    assert len(obj.x) == 5 * n_train and obj.graph.n_nodes == 5 * n_train
    counts = torch.bincount(obj.graph.groups)
    assert len(counts) == n_train and bool((counts == 5).all())
    # copies differ from their original by about the configured 1 % relative noise
    raw = t.data.x_scaler.inverse(obj.x.double())
    rel = (raw[n_train : 2 * n_train] - raw[:n_train]).abs() / raw[:n_train].abs()
    assert 0.004 < float(rel.mean()) < 0.012
    for batch in obj.batches(torch.Generator().manual_seed(0), 32):  # whole groups per batch
        assert bool((torch.bincount(obj.graph.groups[batch])[obj.graph.groups[batch]] == 5).all())


def test_adding_a_layer_keeps_the_function_and_freezes_earlier_layers(heat_train_file, tmp_path):
    t, before = trained(
        heat_train_file, tmp_path, strategy="layerwise", epochs=15, **{"layerwise.alpha": 1e-3}
    )
    grow(t)
    with torch.no_grad():
        assert torch.equal(t.model(t.x_val), before)  # the zero block is the identity
    frozen = {k: v.weight.detach().clone() for k, v in t.model.layers().items() if k != "head"}
    frozen_b = {k: v.bias.detach().clone() for k, v in t.model.layers().items() if k != "head"}
    last = t.model.depth - 1
    trainable = [n for n, p in t.model.named_parameters() if p.requires_grad]
    assert trainable == [
        f"blocks.{last}.linear.weight",
        f"blocks.{last}.linear.bias",
        "head.weight",
        "head.bias",
    ]
    del frozen[f"block{last + 1}"], frozen_b[f"block{last + 1}"]
    for _ in range(3):
        t._train_epoch()
    for name, layer in t.model.layers().items():
        if name in frozen:
            assert torch.equal(layer.weight, frozen[name]), name
            assert torch.equal(layer.bias, frozen_b[name]), name


def test_pruned_entries_stay_zero(heat_train_file, tmp_path):
    t = trainer(
        heat_train_file,
        tmp_path,
        strategy="layerwise",
        epochs=15,
        **{"layerwise.alpha": 1e-3, "layerwise.prune_tol": 2e-3},
    )
    t.run_training()
    grow(t)
    layers = t.model.layers().items()
    zeros = {n: (lay.weight == 0) for n, lay in layers if not lay.weight.requires_grad}
    assert sum(int(z.sum()) for z in zeros.values()) > 0
    for _ in range(5):
        t._train_epoch()
    grow(t)
    for _ in range(5):
        t._train_epoch()
    for name, z in zeros.items():
        assert bool((t.model.layers()[name].weight[z] == 0).all()), name
    report, first = sparsity(t.model), t.model.blocks[0].linear
    assert set(report) == {"lift", "head"} | {f"block{i + 1}" for i in range(t.model.depth)}
    assert report["block1"] == pytest.approx(
        float((first.weight == 0).sum() + (first.bias == 0).sum()) / (12 * 13)
    )


def test_prune_only_touches_small_entries():
    shapes = SimpleNamespace(in_dim=3, out_dim=2)
    net = get_strategy("layerwise").initial_model(shapes, quick_config())
    with torch.no_grad():
        net.lift.weight.copy_(torch.tensor([[1e-5, 0.5, -2e-5]] * net.width))
    prune(net, 1e-4, only_trainable=False)
    assert bool((net.lift.weight[:, 0] == 0).all()) and bool((net.lift.weight[:, 1] == 0.5).all())


def test_srl_stage_keeps_the_prediction_and_trains_only_the_new_net(heat_train_file, tmp_path):
    t, before = trained(heat_train_file, tmp_path, strategy="layerwise+srl", epochs=10)
    ctx = GrowthContext(
        t.model, t.objective.x, t.objective.y, t.loss_fn, t.cfg, t.growth_rng, stalled=True
    )
    event = t.strategy.grow(ctx)
    assert event.inserted and event.stage == "srl" and isinstance(ctx.model, SumNet)
    with torch.no_grad():
        assert torch.equal(ctx.model(t.x_val), before)
    trainable = {n.split(".")[1] for n, p in ctx.model.named_parameters() if p.requires_grad}
    assert trainable == {"1"}


def test_layerwise_runs_record_sparsity_regularizers_and_stages(heat_train_file, tmp_path):
    t = trainer(
        heat_train_file,
        tmp_path,
        strategy="layerwise+srl",
        epochs=120,
        **{
            "layerwise.tau": 1e-3,
            "layerwise.alpha": 1e-4,
            "growth.max_blocks": 3,
            "growth.stop_on_stall": True,
            "growth.min_delta": 0.0,
            "data.max_train": 120,
            "layerwise.copies": 1,
        },
    )
    final = t.run_training()
    events = t.run.read_csv("growth_events.csv")
    stages = [e["stage"] for e in events]
    assert "layer" in stages and "srl" in stages
    assert stages.index("srl") > stages.index("layer")
    layer_event = events[stages.index("layer")]
    assert "block1=" in layer_event["sparsity"]
    assert {"data", "sparsity", "manifold", "physics"} <= {
        kv.split("=")[0] for kv in layer_event["objective_parts"].split(";")
    }
    assert 0 < final["zero_weight_fraction"] < 1
    assert final["obs_misfit"] > 0
    # the network at the end is the base plus every residual stage that was added
    added = sum(e["stage"] == "srl" and e["inserted"] == "1" for e in events)
    assert len(t.model.members) == 1 + added and 0 <= final["srl_stages"] <= added


def test_the_physics_term_is_available_to_every_strategy(heat_file, tmp_path):
    """optim.physics on a td run: the loss carries tau Phi_p, the observation misfit through
    the heat operator, exactly as the physics term computes it; a file with neither a
    forward operator nor constraints is refused naming the key."""
    from sciml_grow.objective import physics_term

    t = trainer(heat_file, tmp_path, strategy="td", **{"optim.physics": 0.5})
    t._fresh()
    idx = torch.arange(8)
    total, parts = t.objective.loss(t.model, idx)
    assert set(parts) == {"data", "physics"}
    with torch.no_grad():
        pred = t.model(t.objective.x[idx])
        expected = t.objective.loss_fn(pred, t.objective.y[idx]) + 0.5 * t.objective.physics.misfit(
            pred, idx
        )
    assert float(total) == pytest.approx(float(expected), rel=1e-6)
    assert parts["physics"] > 0
    ds = Dataset(heat_file, t.cfg.data)
    ds.path = tmp_path / "nothing.h5"  # a file without operators
    import h5py

    with h5py.File(ds.path, "w") as f:
        f["inputs"] = ds.x.numpy()
        f["targets"] = ds.y.numpy()
    with pytest.raises(ValueError, match=r"optim\.physics > 0 needs a forward operator"):
        physics_term(ds, ds.x, None, "cpu", "optim.physics")
