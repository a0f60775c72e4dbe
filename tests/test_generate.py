"""The MPI writer: rank invariance, resume after interruption, and refusal of bad input."""

from __future__ import annotations

import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

from pde_data.generate import generate
from sciml_grow.cli import main
from sciml_grow.format import DatasetError, open_file

from .conftest import CLI, mpiexec, run_cli

KEYS = ("inputs", "targets", "samples/state", "samples/obs_clean", "samples/noise_std")


def assert_same_samples(a, b) -> None:
    with h5py.File(a) as fa, h5py.File(b) as fb:
        for key in KEYS:
            assert np.array_equal(fa[key][()], fb[key][()]), key
        assert fa.attrs["config"] == fb.attrs["config"]


def done_count(path) -> int:
    try:
        with h5py.File(path, "r", locking=False) as f:
            return int(f["samples/done"][()].sum())
    except (OSError, KeyError):
        return 0


@pytest.mark.mpi
def test_same_file_for_1_2_and_4_ranks(tmp_path):
    paths = []
    for ranks in (1, 2, 4):
        path = tmp_path / f"r{ranks}.h5"
        # small blocks: many rounds, uneven last round, every rank writes through rank 0
        r = run_cli(
            "generate",
            "heat",
            "--samples",
            "150",
            "--seed",
            "11",
            "--out",
            str(path),
            "--no-progress",
            "--block-size",
            "16",
            ranks=ranks,
        )
        assert r.returncode == 0, r.stderr
        paths.append(path)
    for other in paths[1:]:
        assert_same_samples(paths[0], other)
    with open_file(paths[1]) as f:
        assert np.isfinite(f["targets"][()]).all() and f.attrs["complete"]


def test_block_size_does_not_change_the_samples(tmp_path):
    generate("heat", 40, tmp_path / "a.h5", seed=2, block_size=40, progress=False)
    generate("heat", 40, tmp_path / "b.h5", seed=2, block_size=7, progress=False)
    assert_same_samples(tmp_path / "a.h5", tmp_path / "b.h5")


def _interrupt_when_started(cmd: list[str], path, sig: int) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while done_count(path) == 0 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def test_resume_after_kill_gives_the_uninterrupted_file(tmp_path):
    args = ["generate", "heat", "--samples", "30000", "--seed", "4", "--no-progress"]
    killed = tmp_path / "killed.h5"
    r = _interrupt_when_started(CLI + args + ["--out", str(killed)], killed, signal.SIGKILL)
    assert r.returncode == -signal.SIGKILL
    n_done = done_count(killed)
    assert 0 < n_done < 30000, "the kill came too late to test anything"
    with h5py.File(killed) as f:  # still a valid file, flagged incomplete
        assert not f.attrs["complete"]
    with pytest.raises(DatasetError, match="incomplete"):
        open_file(killed)
    assert run_cli(*args, "--out", str(killed)).returncode == 0
    generate("heat", 30000, tmp_path / "ref.h5", seed=4, progress=False)
    assert_same_samples(killed, tmp_path / "ref.h5")


@pytest.mark.mpi
def test_ctrl_c_under_mpiexec_stops_cleanly_and_resumes(tmp_path):
    args = ["generate", "heat", "--samples", "40000", "--seed", "9", "--no-progress"]
    path = tmp_path / "int.h5"
    cmd = [mpiexec(), "-n", "2"] + CLI + args + ["--out", str(path)]
    r = _interrupt_when_started(cmd, path, signal.SIGINT)
    assert r.returncode != 0
    n_done = done_count(path)
    assert 0 < n_done < 40000, "the interrupt came too late to test anything"
    info = run_cli("info", str(path))
    assert info.returncode == 0 and "INCOMPLETE" in info.stdout
    r = run_cli(*args, "--out", str(path), ranks=2)
    assert r.returncode == 0, r.stderr
    assert f"{n_done} were there already" in r.stdout
    generate("heat", 40000, tmp_path / "ref.h5", seed=9, progress=False)
    assert_same_samples(path, tmp_path / "ref.h5")


def test_rerun_of_a_complete_file_changes_nothing(heat_file, capsys):
    before = heat_file.stat().st_mtime_ns
    assert (
        main(
            [
                "generate",
                "heat",
                "--samples",
                "48",
                "--seed",
                "7",
                "--set",
                "mesh_cells=8",  # the fixture's command (tests/fixtures/regenerate.sh)
                "--out",
                str(heat_file),
                "--block-size",
                "16",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "already complete" in capsys.readouterr().out
    assert heat_file.stat().st_mtime_ns == before


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("sciml-grow: error: ")
    return err[0]


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--set", "prior.std=0.5"], "prior.std: file has 1.0, this run asks for 0.5"),
        (["--set", "sensors.count=3"], "sensors.count"),
    ],
)
def test_different_config_for_an_existing_file_is_refused(heat_file, capsys, extra, fragment):
    before = heat_file.read_bytes()
    args = ["generate", "heat", "--samples", "48", "--seed", "7", "--out", str(heat_file), *extra]
    assert main(args) == 2
    assert fragment in _error_line(capsys)
    assert heat_file.read_bytes() == before


def test_different_seed_or_size_is_refused(heat_file, capsys):
    assert (
        main(["generate", "heat", "--samples", "48", "--seed", "8", "--out", str(heat_file)]) == 2
    )
    assert "seed: file has 7" in _error_line(capsys)
    assert (
        main(["generate", "heat", "--samples", "49", "--seed", "7", "--out", str(heat_file)]) == 2
    )
    assert "n_samples" in _error_line(capsys)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["generate", "diffusion", "--samples", "5"], "unknown problem 'diffusion'"),
        (["generate", "heat", "--samples", "0"], "--samples must be a positive integer"),
        (["generate", "heat", "--samples", "-4"], "--samples must be a positive integer"),
        (["generate", "heat", "--samples", "x"], "invalid int value"),
        (["generate", "heat", "--samples", "5", "--seed", "-1"], "--seed must be"),
        (["generate", "heat", "--samples", "5", "--set", "prior.sdt=1"], "unknown key prior.sdt"),
        (["generate", "heat", "--samples", "5", "--set", "prior.std=-1"], "prior.std: must lie in"),
        (["generate", "heat", "--samples", "5", "--set", "mesh_cells=ten"], "expected an integer"),
        (["generate", "heat", "--samples", "5", "--set", "top_boundary=dirichlet"], "not one of"),
        (
            ["generate", "heat", "--samples", "5", "--set", "sensors.points=[[2.0, 0.5]]"],
            "unit square",
        ),
        (["generate", "heat", "--samples", "5", "--config", "missing.toml"], "cannot read"),
        (["generate", "heat"], "required: --samples"),
    ],
)
def test_bad_generate_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, fragment):
    out = tmp_path / "x.h5"
    full = [*args, "--out", str(out)] if "--samples" in args else args
    assert main(full) == 2
    assert fragment in _error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_destinations(tmp_path, capsys):
    assert main(["generate", "heat", "--samples", "3", "--out", str(tmp_path / "no/dir/x.h5")]) == 2
    assert "does not exist" in _error_line(capsys)
    assert main(["generate", "heat", "--samples", "3", "--out", str(tmp_path)]) == 2
    assert "is a directory" in _error_line(capsys)


def test_foreign_and_corrupt_files_are_not_touched(tmp_path, capsys):
    foreign, corrupt = tmp_path / "foreign.h5", tmp_path / "corrupt.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(200)))
    for path, fragment in ((foreign, "not a sciml_grow dataset"), (corrupt, "not a readable HDF5")):
        before = path.read_bytes()
        assert main(["generate", "heat", "--samples", "3", "--out", str(path)]) == 2
        assert fragment in _error_line(capsys)
        assert path.read_bytes() == before
        assert main(["info", str(path)]) == 2
        _error_line(capsys)


def test_force_never_replaces_a_foreign_file(tmp_path, capsys):
    path = tmp_path / "foreign.h5"
    path.write_bytes(b"not hdf5")
    args = ["generate", "heat", "--samples", "3", "--out", str(path), "--force", "--no-progress"]
    assert main(args) == 2
    assert path.read_bytes() == b"not hdf5"
    assert "refusing to touch it" in capsys.readouterr().err


def test_error_from_a_real_process_is_one_line_with_nonzero_exit(tmp_path):
    r = run_cli("generate", "heat", "--samples", "0", "--out", str(tmp_path / "x.h5"), ranks=2)
    assert r.returncode != 0
    assert r.stderr.strip().splitlines() == [
        "sciml-grow: error: --samples must be a positive integer, got 0"
    ]


def test_info_summarizes_the_file(heat_file, capsys):
    assert main(["info", str(heat_file)]) == 0
    text = capsys.readouterr().out
    for fragment in (
        "problem     heat",
        "(48, 10)",
        "(48, 81)",
        "81 vertices",
        "relative_level=0.01",
        "correlation_length=0.3",
        "dolfinx 0.1",
        "complete",
    ):
        assert fragment in text, fragment


@pytest.mark.parametrize("sub", [[], ["generate"], ["info"]])
def test_help(sub):
    r = run_cli(*sub, "--help")
    assert r.returncode == 0 and "usage: sciml-grow" in r.stdout


def test_per_sample_datasets_are_chunked_by_whole_samples(tmp_path):
    """Chunks hold whole samples and at most 64 KiB (a larger sample: one chunk), so reading
    any subset of samples (a minibatch of a file larger than memory) reads only those
    samples' chunks."""
    from sciml_grow.format import CHUNK_BYTES, sample_chunks

    assert sample_chunks((10, 300_000), "f8") == (1, 300_000)  # 2.4 MB rows: one per chunk
    assert sample_chunks((1000, 1000), "f8") == (8, 1000)  # 8,000 B rows: 65,536 // 8,000
    assert sample_chunks((5, 3), "f8") == (5, 3)
    path = tmp_path / "h.h5"
    r = run_cli("generate", "heat", "--samples", "40", "--out", str(path), "--no-progress")
    assert r.returncode == 0, r.stderr
    with open_file(path) as f:
        for name in ("inputs", "targets", "samples/done", "samples/noise_std"):
            d = f[name]
            assert d.chunks is not None and d.chunks[1:] == d.shape[1:], name
            assert d.chunks[0] * d.dtype.itemsize * np.prod(d.shape[1:]) <= CHUNK_BYTES
