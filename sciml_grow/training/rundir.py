"""One run directory layout for every strategy.

    config.json          the resolved config, strategy, data file, seed, versions, command
    metrics.csv          one row per epoch
    growth_events.csv    one row per growth decision
    checkpoint.pt        latest training state (resume)
    best.pt              the kept (best-validation) network, self-contained for predict
    final.json           test metrics; written last, so its presence means the run finished

A search (:mod:`sciml_grow.training.search`) adds its Optuna study (``search.journal``), a row
per trial (``search.csv``) and each trial's own run directory under ``trials/``.

Model and checkpoint files are read as data only (``torch.load(weights_only=True)``: tensors,
numbers, strings, lists and dicts); a file that holds any other Python object, which unpickling
would construct by running code, is refused before anything of it runs (:func:`load_torch`).

Files are replaced atomically (write to a temporary name, then rename), so a killed run never
leaves a half-written checkpoint or summary. ``--force`` replaces a directory only if it holds
nothing but these files (see :func:`check_run_output`).
"""

from __future__ import annotations

from collections.abc import Iterable
import csv
import io
import json
from pathlib import Path
import pickle
from typing import Any

import torch

from sciml_grow.config import ConfigError, strict_json
from sciml_grow.errors import InputError, ModelFileError, arg, reason
from sciml_grow.outputs import (
    OutputError,
    OutputLock,
    atomic_write_bytes,
    check_not_input,
    check_parent,
    json_text,
)

BUNDLE_KEYS = ("spec", "model", "dtype", "x_scaler", "y_scaler")  # best.pt, Predictor.save
CHECKPOINT_KEYS = ("spec", "model", "optimizer", "state", "rng")  # checkpoint.pt


def load_torch(
    data: bytes, where: str | Path, keys: Iterable[str], device: str | torch.device = "cpu"
) -> dict[str, Any]:
    """A model or checkpoint file's content (``data``, read from ``where``) as plain data, or
    ModelFileError: a file holding objects that would run code when unpickled is refused
    before any of it runs (weights_only), and so is one that is damaged or lacks ``keys``."""
    try:
        obj = torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise ModelFileError(
            f"{where}: refused, it holds Python objects that would run code when loaded "
            "(sciml-grow reads tensors and plain data only); use a file sciml-grow wrote"
        ) from None
    except Exception as exc:  # torch reports damage as RuntimeError, EOFError, OSError, ...
        raise ModelFileError(f"{where}: damaged or not a torch file ({reason(exc)})") from None
    missing = [k for k in keys if not isinstance(obj, dict) or k not in obj]
    if missing:
        raise ModelFileError(f"{where}: not a sciml-grow model file (no '{missing[0]}')")
    return obj


class RunDir:
    """Reads and writes the files of one run; with ``path`` None they are kept in memory (a
    run from the Python API without a run directory)."""

    FILES = frozenset(
        {
            "config.json",
            "metrics.csv",
            "growth_events.csv",
            "checkpoint.pt",
            "best.pt",
            "final.json",
            # a search's (sciml_grow.training.search)
            "search.journal",
            "search.journal.lock",
            "search.csv",
            "trials",
        }
    )

    def __init__(self, path: str | Path | None):
        self.path = None if path is None else Path(path)
        self._memory: dict[str, bytes] | None = {} if path is None else None

    def _has(self, name: str) -> bool:
        if self._memory is not None:
            return name in self._memory
        return (self.path / name).exists()

    def _write(self, name: str, data: bytes) -> None:
        if self._memory is not None:
            self._memory[name] = data
        else:
            atomic_write_bytes(self.path / name, data)

    def _read(self, name: str) -> bytes:
        if self._memory is not None:
            return self._memory[name]
        return (self.path / name).read_bytes()

    def exists(self) -> bool:
        return self._has("config.json")

    def copy_from(self, other: RunDir, name: str) -> None:
        """File ``name`` of run ``other``, as it is, written here (atomically)."""
        self._write(name, other._read(name))

    def foreign_files(self) -> list[str]:
        """Names in the directory that are not part of the run layout (nor its temporaries)."""
        own = self.FILES | {f + ".tmp" for f in self.FILES}
        return sorted(p.name for p in self.path.iterdir() if p.name not in own)

    def finished(self) -> bool:
        return self._has("final.json")

    def create(self) -> None:
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)

    # --- json ---
    def write_json(self, name: str, obj: Any) -> None:
        self._write(name, json_text(obj).encode())

    def read_json(self, name: str) -> Any:
        try:
            return strict_json(self._read(name).decode())
        except (UnicodeDecodeError, json.JSONDecodeError, ConfigError) as exc:
            raise OutputError(f"{self._where(name)} is damaged (not valid JSON: {exc})") from None

    def _where(self, name: str) -> str:
        return str(self.path / name) if self.path is not None else name

    # --- csv ---
    def start_csv(self, name: str, columns: list[str]) -> None:
        """A CSV file holding only its header (a run's files exist even before any row)."""
        self._write(name, (",".join(columns) + "\r\n").encode())

    def append_csv(self, name: str, row: dict[str, Any]) -> None:
        """Append a row under the file's header (written with the first row if none)."""
        header = self._header(name)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=header or list(row))
        if not header:
            writer.writeheader()
        writer.writerow(row)
        if self._memory is not None:
            self._memory[name] = self._memory.get(name, b"") + buf.getvalue().encode()
        else:  # appended in place: a row per epoch never rewrites the file
            with open(self.path / name, "a", newline="") as fh:
                fh.write(buf.getvalue())

    def _header(self, name: str) -> list[str]:
        """The column names of a CSV file (empty if it does not exist or is empty)."""
        if not self._has(name):
            return []
        if self._memory is not None:
            first = self._memory[name].decode().partition("\r\n")[0]
        else:
            with open(self.path / name, newline="") as fh:
                first = fh.readline()
        return next(csv.reader([first]), [])

    def read_csv(self, name: str) -> list[dict[str, str]]:
        if not self._has(name):
            return []
        try:
            text = self._read(name).decode()
        except UnicodeDecodeError:
            raise OutputError(f"{self._where(name)} is damaged (not text)") from None
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = list(reader)
        for i, row in enumerate(rows):
            if None in row or None in row.values():  # more or fewer fields than the header
                raise OutputError(
                    f"{self._where(name)} is damaged (line {i + 2} does not match the header)"
                )
        return rows

    def truncate_csv(self, name: str, max_epoch: int) -> None:
        """Drop rows after ``max_epoch`` (written after the checkpoint a resume starts from)."""
        rows = self.read_csv(name)
        if not rows:
            return
        try:
            keep = [r for r in rows if int(r["epoch"]) <= max_epoch]
        except (KeyError, ValueError):
            raise OutputError(
                f"{self._where(name)} is damaged (an epoch that is not a number)"
            ) from None
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(keep)
        self._write(name, buf.getvalue().encode())

    # --- torch ---
    def save(self, name: str, obj: Any) -> None:
        buf = io.BytesIO()
        torch.save(obj, buf)
        self._write(name, buf.getvalue())

    def load(self, name: str, device: str | torch.device = "cpu") -> dict[str, Any]:
        """A model (best.pt) or checkpoint file as plain data; see :func:`load_torch`."""
        keys = CHECKPOINT_KEYS if name == "checkpoint.pt" else BUNDLE_KEYS
        return load_torch(self._read(name), self._where(name), keys, device)


def finished_architecture(path: str | Path) -> dict[str, Any]:
    """The kept network's architecture of a finished run (what a baseline retrains)."""
    run = RunDir(path)
    if not run.finished():
        raise OutputError(f"{arg('baseline_from')} {path}: not a finished run (no final.json)")
    return run.read_json("final.json")["architecture"]


def pretrained_bundle(path: str | Path) -> dict[str, Any]:
    """The kept network of a finished run as plain data (what fine-tuning starts from)."""
    run = RunDir(path)
    if not (run.path / "best.pt").exists():
        raise InputError(f"finetune.pretrained {run.path}: not a finished training run")
    return run.load("best.pt")


def check_run_output(
    out: str | Path, *, force: bool, inputs: tuple = (), flag: str | None = None
) -> RunDir:
    """Validate a run directory to create (before any work): not a file, not an input, and
    new or empty unless ``force`` replaces a run this toolkit made and nothing else."""
    flag = flag or arg("out")
    run = RunDir(out)
    path = run.path
    check_not_input(path, inputs, flag)
    for above in path.absolute().parents:
        if RunDir(above).exists():
            raise OutputError(
                f"{flag} {path} is inside the run directory {above}; choose a path outside it"
            )
    OutputLock(path).check_free()
    if path.exists() and not path.is_dir():
        raise OutputError(f"{flag} {path} is a file, not a run directory")
    if not path.exists():
        check_parent(path, flag)
        return run
    if not any(path.iterdir()):
        return run
    if not run.exists():
        raise OutputError(
            f"{flag} {path} is a folder that is not a run directory (no config.json); "
            "choose another --out"
        )
    if not force:
        state = "a finished" if run.finished() else "an unfinished"
        resumable = not run.finished() and run._has("checkpoint.pt")
        hint = f"continue it with {arg('resume')} {path}, or " if resumable else ""
        raise OutputError(f"{path} holds {state} run; {hint}pass {arg('force')} to replace it")
    foreign = run.foreign_files()
    if foreign:
        raise OutputError(
            f"{flag} {path} holds files sciml-grow did not make ({', '.join(foreign[:3])}); "
            "refusing to replace it even with --force"
        )
    return run
