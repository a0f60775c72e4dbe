"""Small things a new user meets at the command line: names, help, messages, run files."""

from __future__ import annotations

import json
from pathlib import Path
import shutil
import signal
import subprocess
import time

import pytest

from pde_data import problem_name
import sciml_grow as sg
from sciml_grow.cli import build_parser, main
from sciml_grow.growth import STRATEGIES

from .conftest import CLI, mpiexec, needs_fenicsx

QUICK = ["--no-progress", "--epochs", "2"]


def test_problem_names_in_any_case_and_with_hyphens():
    assert problem_name("navier-stokes") == problem_name("Navier_Stokes") == "navier_stokes"
    with pytest.raises(ValueError, match="available: heat, navier_stokes, wind"):
        problem_name("poisson")


def test_strategy_names_in_any_case(heat_file, tmp_path):
    assert main(["train", "--data", str(heat_file), "--out", str(tmp_path / "r"),
                 "--strategy", "Net2Deeper", *QUICK]) == 0  # fmt: skip
    assert json.loads((tmp_path / "r" / "final.json").read_text())["strategy"] == "net2deeper"


def test_help_lists_every_strategy_and_version_is_printed(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in STRATEGIES:
        if name != "finetune":
            assert name in text, name
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--version"])
    assert capsys.readouterr().out.startswith("sciml-grow 0.")


def test_errors_have_one_prefix(capsys):
    assert main(["generate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sciml-grow: error: generate: the following arguments are required")
    assert err.count("sciml-grow") == 1


@needs_fenicsx
def test_messages_count_ranks_and_cells(tmp_path, capsys):
    out = tmp_path / "h.h5"
    assert main(["generate", "heat", "--samples", "3", "--out", str(out), "--no-progress"]) == 0
    assert "on 1 rank in" in capsys.readouterr().out
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "512 triangles" in text and "1 rank in" in text


def test_documented_config_files_exist_and_load():
    from sciml_grow.config import load_file

    root = Path(__file__).parents[1]
    docs = [root / "README.md", *(root / "docs").glob("*.md")]
    words = " ".join(d.read_text() for d in docs).split()
    named = {w for w in words if w.startswith("configs/") and w.endswith(".toml")}
    assert named, "the documentation names no shipped config"
    for name in named:
        assert load_file(Path(__file__).parents[1] / name), name


@needs_fenicsx
def test_one_sensor_is_a_valid_layout(tmp_path):
    from pde_data.generate import generate
    from sciml_grow.format import open_file

    path = tmp_path / "one.h5"
    generate("heat", 4, path, config={"sensors": {"count": 1}}, progress=False)
    with open_file(path) as f:
        assert f["inputs"].shape == (4, 1) and f.attrs["complete"]


def test_a_run_that_never_grew_has_events_header_and_an_explaining_plot(heat_file, tmp_path):
    from sciml_grow.study.plots import td_sensitivity

    out = tmp_path / "cmp"
    run = out / "runs" / "td-seed0"
    assert main(["train", "--data", str(heat_file), "--out", str(run), *QUICK]) == 0
    header = (run / "growth_events.csv").read_text().splitlines()
    assert len(header) == 1 and header[0].startswith("epoch,inserted,")
    assert td_sensitivity(out) == out / "td_sensitivity.png"


def test_predict_prints_a_classifiers_accuracy(tmp_path, capsys):
    data = tmp_path / "digits.h5"
    assert main(["import", "digits", "--out", str(data)]) == 0
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(run), *QUICK]) == 0
    capsys.readouterr()
    assert main(["predict", "--run", str(run), "--data", str(data)]) == 0
    assert "accuracy" in capsys.readouterr().out


def test_finetune_time_counts_the_adapter_insertion(heat_file, tmp_path, monkeypatch):
    from sciml_grow.growth.finetune import FineTune

    pre = tmp_path / "pre"
    assert main(["train", "--data", str(heat_file), "--out", str(pre), *QUICK]) == 0
    insert = FineTune._insert_adapters

    def slow_insert(self, *args):
        time.sleep(1.0)
        return insert(self, *args)

    monkeypatch.setattr(FineTune, "_insert_adapters", slow_insert)
    out = tmp_path / "ft"
    assert main(["finetune", "--run", str(pre), "--data", str(heat_file), "--out", str(out),
                 "--epochs", "1", "--no-progress"]) == 0  # fmt: skip
    assert json.loads((out / "final.json").read_text())["wall_seconds"] >= 1.0


@pytest.mark.mpi
def test_ctrl_c_under_mpiexec_compare_is_quiet_and_resumable(heat_file, tmp_path):
    data = tmp_path / "heat.h5"
    shutil.copy(heat_file, data)
    out = tmp_path / "cmp"
    cmd = [mpiexec(), "-n", "2", *CLI, "compare", "--data", str(data), "--out", str(out),
           "--strategies", "td,net2deeper", "--seeds", "1", "--epochs", "3000",
           "--reference-samples", "0", "--no-plots"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(out.glob("runs/*/checkpoint.pt")) and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Abort" not in err
    assert not (out.parent / "cmp.lock").exists()


def test_a_bug_keeps_its_traceback_while_a_user_error_is_one_line(heat_file, monkeypatch):
    """A plain ValueError inside the toolkit is a bug: the command must not pass it off as
    the user's mistake (exit 2, one line) but let its traceback out."""
    import sciml_grow.data.info as info

    def broken(path):
        raise ValueError("an internal invariant failed")

    monkeypatch.setattr(info, "describe", broken)
    with pytest.raises(ValueError, match="internal invariant"):
        main(["info", str(heat_file)])

    def refused(path):
        raise sg.InputError("file: not what info expects")

    monkeypatch.setattr(info, "describe", refused)
    assert main(["info", str(heat_file)]) == 2
