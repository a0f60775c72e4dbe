"""Files read on demand (data.in_memory = false): the same rows, statistics, fingerprint and
training as in memory, and a DataLoader whose worker processes open the file themselves."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sciml_grow.data.dataset import DataConfig, Dataset
from sciml_grow.data.rows import FileRows
from sciml_grow.training.rundir import RunDir
from sciml_grow.training.trainer import Trainer

from .conftest import quick_config


def test_file_rows_read_what_indexing_the_array_gives(heat_train_file):
    import h5py

    with h5py.File(heat_train_file) as f:
        targets = f["targets"][()]
    rows = FileRows(heat_train_file, "targets")
    assert rows.shape == targets.shape and len(rows) == len(targets)
    rng = np.random.default_rng(0)
    for idx in (rng.permutation(len(targets))[:37], np.array([5, 5, 2, 9, 2]), np.arange(3, 40)):
        np.testing.assert_array_equal(rows[idx].numpy(), targets[idx])
        np.testing.assert_array_equal(rows[torch.from_numpy(idx)].numpy(), targets[idx])
    np.testing.assert_array_equal(rows[10:20].numpy(), targets[10:20])
    sub = rows.subset(np.array([7, 3, 100]))
    np.testing.assert_array_equal(sub[[2, 0]].numpy(), targets[[100, 7]])


@pytest.mark.parametrize(
    ("width", "chunk_rows"),
    [
        (3000, 1),  # 24 KB rows, one per chunk: chunks read whole into the batch
        (3000, 3),  # several rows per chunk: hyperslab reads
        (3000, None),  # contiguous (a file from before chunking)
        (8, 4),  # small rows: the range that holds them, or one union selection
        (8, None),  # small rows, contiguous
    ],
)
@pytest.mark.parametrize("held", [False, True])  # True: the whole dataset read once, held
def test_every_read_path_gives_the_asked_rows_in_order(
    tmp_path, monkeypatch, width, chunk_rows, held
):
    import h5py

    from sciml_grow.data import rows as rows_module

    monkeypatch.setattr(rows_module, "WHOLE_BYTES", 1 << 30 if held else 0)

    n = 20_000 if width == 8 else 60  # small rows 20,000 x 64 B: wider than RANGE_BYTES
    values = np.random.default_rng(1).standard_normal((n, width))
    path = tmp_path / "v.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("v", data=values, chunks=chunk_rows and (chunk_rows, width))
    rows = FileRows(path, "v")
    spread = np.array([n - 1, 0, n // 2, 1, n - 2])  # far apart (small rows: a union)
    cases = [spread, np.array([4, 4, 1, 0, 4]), np.arange(7, 19), np.array([], dtype=np.int64)]
    cases.append(np.random.default_rng(2).permutation(n)[:25])
    if width == 8:  # the far-apart rows take the union path, the close ones the range
        assert (n - 1) * values[0].nbytes > rows_module.RANGE_BYTES
        assert 12 * values[0].nbytes <= rows_module.RANGE_BYTES
    for idx in cases:
        got = rows[idx].numpy()
        assert got.shape == (len(idx), width)
        np.testing.assert_array_equal(got, values[idx])
    assert ("whole" in rows._held) == held
    if held:  # subsets share the one copy
        assert rows.subset(np.arange(5))._held["whole"] is rows._held["whole"]


def test_streamed_dataset_equals_the_loaded_one(heat_train_file):
    cfg = DataConfig()
    loaded = Dataset(heat_train_file, cfg)
    streamed = Dataset(heat_train_file, DataConfig(in_memory=False))
    assert loaded.in_memory and not streamed.in_memory
    assert streamed.fingerprint == loaded.fingerprint  # what resume checks
    for a, b in ((loaded.x_scaler, streamed.x_scaler), (loaded.y_scaler, streamed.y_scaler)):
        torch.testing.assert_close(b.mean, a.mean, rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(b.std, a.std, rtol=1e-12, atol=0)
    x, y = streamed.tensors("val")
    x0, y0 = loaded.tensors("val")
    idx = torch.tensor([3, 0, 7])
    torch.testing.assert_close(x[idx], x0[idx], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(y[idx], y0[idx], rtol=1e-6, atol=1e-6)


def test_training_streamed_gives_the_same_run(heat_train_file, tmp_path):
    results = []
    for in_memory in (True, False):
        cfg = quick_config(strategy="td", epochs=12, **{"data.in_memory": in_memory})
        data = Dataset(heat_train_file, cfg.data)
        run = RunDir(tmp_path / f"run-{in_memory}")
        results.append(Trainer(cfg, data, run, progress=False).run_training())
    loaded, streamed = results
    assert streamed["final_depth"] == loaded["final_depth"]
    assert streamed["test"]["rel_l2_mean"] == pytest.approx(loaded["test"]["rel_l2_mean"], rel=1e-5)
    assert streamed["test"]["n_samples"] == loaded["test"]["n_samples"]


def test_a_dataloader_with_worker_processes_reads_the_right_samples(heat_train_file):
    streamed = Dataset(heat_train_file, DataConfig(in_memory=False))
    loaded = Dataset(heat_train_file, DataConfig())
    loader = torch.utils.data.DataLoader(
        streamed.torch_dataset("train"), batch_size=16, num_workers=2, shuffle=False
    )
    xs, ys = zip(*loader, strict=True)
    x0, y0 = loaded.tensors("train")
    torch.testing.assert_close(torch.cat(xs), x0, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(torch.cat(ys), y0, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("in_memory", [True, False])
def test_flat_inputs_are_refused_for_classes_too(tmp_path, in_memory):
    """Inputs must be (N, features) whatever the targets (only class labels may be flat)."""
    import h5py

    from sciml_grow.format import DatasetError

    path = tmp_path / "flat.h5"
    with h5py.File(path, "w") as f:
        f["inputs"] = np.arange(20.0)
        f["targets"] = np.arange(20) % 2
    with pytest.raises(DatasetError, match="'inputs' has shape"):
        Dataset(path, DataConfig(in_memory=in_memory))


def test_the_linear_reference_reads_a_file_on_demand_too(heat_train_file, tmp_path):
    from sciml_grow.study.linear import linear_reference
    from sciml_grow.study.plan import Job

    jobs = [Job("td", 0), Job("td", 1, 30)]
    rows = [
        linear_reference(Dataset(heat_train_file, DataConfig(in_memory=m)), {}, jobs, tmp_path)
        for m in (True, False)
    ]
    for loaded, streamed in zip(*rows, strict=True):
        assert streamed["rel_l2_mean"] == pytest.approx(loaded["rel_l2_mean"], rel=1e-9)
        assert streamed["train_size"] == loaded["train_size"]


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_test_summary_from_blocks_equals_the_one_from_all_samples(task):
    """The blockwise test evaluation (files read on demand) keeps per-block summaries only,
    and pools them into what one pass over all samples gives."""
    from sciml_grow.training.evaluation import _block_summary, _combine, evaluate_predictions

    gen = torch.Generator().manual_seed(0)
    pred = torch.randn(50, 7, dtype=torch.float64, generator=gen)
    truth = torch.randint(0, 7, (50,), generator=gen) if task == "classification" else pred
    if task == "regression":
        truth = pred + 0.3 * torch.randn(50, 7, dtype=torch.float64, generator=gen)
    whole = evaluate_predictions(pred, truth, task)
    parts = [
        (_block_summary(p, t, task), 0.5 + i)
        for i, (p, t) in enumerate(zip(pred.split(16), truth.split(16), strict=True))
    ]
    pooled, misfit = _combine(parts, task)
    assert pooled.keys() == whole.keys()
    for key, value in whole.items():
        assert pooled[key] == pytest.approx(value, rel=1e-12), key
    if task == "regression":  # sample-weighted: blocks of 16, 16, 16, 2
        assert misfit == pytest.approx((16 * (0.5 + 1.5 + 2.5) + 2 * 3.5) / 50)


def test_the_td_decision_on_a_file_read_on_demand_takes_small_chunks_and_the_same_q(
    heat_train_file, monkeypatch
):
    """Read on demand, Q's chunks are bounded by bytes (8 blocks), not by 1,024 samples, and
    the sums are those of the loaded data."""
    import sciml_grow as sg
    from sciml_grow.data import rows as rows_module
    from sciml_grow.growth import topological as td

    monkeypatch.setattr(rows_module, "BLOCK_BYTES", 8 << 10)  # 3 heat samples per block
    seen = []
    real = td.states_and_costates
    monkeypatch.setattr(
        td,
        "states_and_costates",
        lambda net, xb, *a, **k: seen.append(len(xb)) or real(net, xb, *a, **k),
    )
    qs = {}
    for in_memory in (True, False):
        ds = Dataset(heat_train_file, DataConfig(in_memory=in_memory))
        torch.manual_seed(0)
        net = sg.build_network(ds, width=8, initial_blocks=1).double()
        x, y = ds.tensors("train", torch.float64)
        seen.clear()
        qs[in_memory], _ = td.q_matrices(net, x, y, torch.nn.functional.mse_loss, d2=-2.0)
        if not in_memory:
            assert max(seen) == 8 * y.block_rows < len(x)
    for loaded, streamed in zip(qs[True], qs[False], strict=True):
        torch.testing.assert_close(streamed, loaded, rtol=1e-10, atol=1e-12)
