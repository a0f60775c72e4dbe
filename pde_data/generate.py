"""The sample-parallel, resumable, rank-invariant HDF5 writer shared by every problem.

- Sample i draws all its randomness from a stream seeded by (seed, i) and is solved on
  MPI.COMM_SELF, so its values do not depend on how many ranks run or which one solves it.
- Pending samples are cut into blocks; each round every rank solves one block, rank 0 gathers
  and writes them (the only rank that touches the file), then marks them done. The file is
  opened only while a round is written, and its storage is allocated at creation, so writes
  touch raw data only and even a kill in mid-write leaves a valid file (rows not yet flagged
  done are redone on resume); Ctrl-C and SIGTERM end the current round cleanly first.
- A file is created complete with all its metadata (under a temporary name, then renamed) and
  ``complete = False``; re-running the same command resumes from the ``samples/done`` mask and
  ends with the same contents as an uninterrupted run. ``complete`` is set only at the end.
- An existing file made with another problem, size, seed or config is never overwritten
  unless ``force`` is given, and then only if it is a sciml_grow dataset: the new file is
  written beside it (``<out>.replacing``, resumable like any other) and renamed over it once
  complete, so a failed replacement leaves the old file intact.
- Everything is checked before the file is created: config, problem setup, memory and disk
  space. One process writes a file at a time (``<out>.lock``). A sample that is not finite
  stops the run with its index and the settings to look at; a file this call created and could
  not finish is removed again, so a failing command leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
import json
import os
from pathlib import Path
import signal
import threading
import time
from typing import Any

from mpi4py import MPI
import h5py
import numpy as np
from tqdm import tqdm

from pde_data import get_problem
from pde_data.problem import Problem
from sciml_grow import format as fmt
from sciml_grow.config import MAX_SEED, ConfigError, differences, from_dict, to_json
from sciml_grow.errors import UserError
from sciml_grow.outputs import OutputError, OutputLock
from sciml_grow.resources import ResourceError, check_disk, check_memory


class GenerationError(UserError):
    """A generate request cannot be carried out; the message says why."""


@dataclass
class GenerateSummary:
    """What one generate call did."""

    path: Path
    problem: str
    n_samples: int
    written: int
    already_done: int
    ranks: int
    seconds: float
    complete: bool

    @property
    def samples_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else float("nan")


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The random stream of sample ``index``: depends on (seed, index) only."""
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(index,)))


def generate(
    problem: str | type,
    n_samples: int,
    out: str | Path,
    seed: int = 0,
    config: dict[str, Any] | None = None,
    *,
    comm: MPI.Comm | None = None,
    block_size: int = 128,
    progress: bool = True,
    force: bool = False,
    split: tuple[float, float] | None = None,
    out_flag: str = "--out",
) -> GenerateSummary:
    """Generate (or finish) ``n_samples`` samples of ``problem`` into the HDF5 file ``out``;
    with ``split`` = (test fraction, validation fraction) the file stores that fixed split
    (``/split``: the split readers draw with split seed 0, so the same test samples for
    everyone who uses the file). ``out_flag`` is how refusals name ``out`` to a command
    that calls this one (``benchmark run --data``, which has no ``--force``)."""
    comm = MPI.COMM_WORLD if comm is None else comm
    out = Path(out)
    try:
        problem_cls = get_problem(problem)
    except ValueError as exc:
        raise GenerationError(str(exc)) from None
    problem = problem_cls.name
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples <= 0:
        raise GenerationError(f"--samples must be a positive integer, got {n_samples!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise GenerationError(f"--seed must be an integer in 0..{MAX_SEED}, got {seed!r}")
    cfg = from_dict(problem_cls.config_class, config or {})
    identity = {
        "problem": problem,
        "n_samples": n_samples,
        "seed": seed,
        "config": to_json(cfg),
    }
    parts = None
    if split is not None:
        test, val = split
        if not (0 < test < 1 and 0 < val < 1):
            raise GenerationError(f"split: fractions in (0, 1) expected, got {split!r}")
        try:  # the permutation that draws it: 8 bytes a sample, and 1 for the parts
            check_memory(9.0 * n_samples, f"drawing the split of {n_samples} samples")
        except ResourceError as exc:
            raise GenerationError(str(exc)) from None
        parts = fmt.seeded_parts(n_samples, test, val)
        if min(np.bincount(parts, minlength=3)) < 1:
            raise GenerationError(f"split {split!r}: {n_samples} samples leave a part empty")
    lock = OutputLock(out)
    _on_root(comm, lambda: _locked(lock))
    try:
        return _generate(
            comm, problem_cls, cfg, identity, out, force, block_size, progress, parts, out_flag
        )
    finally:
        lock.release()


def _locked(lock: OutputLock) -> None:
    """Take the output's lock (rank 0), in a folder that exists and is writable."""
    folder = lock.target.parent
    if not folder.is_dir():
        raise GenerationError(f"cannot write {lock.target}: directory {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise GenerationError(f"cannot write {lock.target}: directory {folder} is not writable")
    try:
        lock.acquire()
    except (OutputError, OSError) as exc:
        raise GenerationError(str(exc)) from None


def _generate(
    comm: MPI.Comm,
    problem_cls: type[Problem],
    cfg: Any,
    identity: dict[str, Any],
    out: Path,
    force: bool,
    block_size: int,
    progress: bool,
    parts: np.ndarray | None = None,
    out_flag: str = "--out",
) -> GenerateSummary:
    """The body of :func:`generate`, run while rank 0 holds the output's lock."""
    problem, n_samples = identity["problem"], identity["n_samples"]
    state, done, work = _on_root(
        comm, lambda: _inspect(out, identity, force, problem_cls, out_flag)
    )
    if state in ("complete", "resume") and parts is not None:
        _on_root(comm, lambda: _same_split(out, parts, out_flag))
    if state == "complete":
        return GenerateSummary(out, problem, n_samples, 0, n_samples, comm.size, 0.0, True)

    t_setup = time.perf_counter()
    _on_root(comm, lambda: _fits_in_memory(problem_cls, cfg))
    try:
        prob = problem_cls(cfg)
        error = None
    except (ValueError, RuntimeError, ArithmeticError) as exc:
        prob, error = None, f"problem setup failed: {exc}"
    errors = comm.allgather(error)
    if any(errors):
        raise GenerationError(next(e for e in errors if e))
    created = state == "new"
    if created:
        _on_root(comm, lambda: _create(work, prob, identity, parts))
        done = np.zeros(n_samples, dtype=bool)
    setup_seconds = time.perf_counter() - t_setup
    try:
        summary = _solve_all(comm, prob, identity, work, done, block_size, progress)
    except GenerationError:
        if created and comm.rank == 0:  # ours, and it can never be finished as configured
            work.unlink(missing_ok=True)
        raise
    if comm.rank == 0:
        _finish(work, summary.complete, comm.size, summary.written, summary.seconds, setup_seconds)
        if summary.complete and work != out:
            os.replace(work, out)  # the finished replacement takes the old file's place
    comm.barrier()
    if summary.complete:
        summary.path = out
    return summary


def _fits_in_memory(problem_cls: type[Problem], cfg: Any) -> None:
    try:
        check_memory(problem_cls.memory_estimate(cfg), f"{problem_cls.name} with this mesh")
    except ResourceError as exc:
        raise GenerationError(f"{exc}; use a coarser mesh (mesh_cells)") from None


def _solve_all(
    comm: MPI.Comm,
    prob: Problem,
    identity: dict[str, Any],
    out: Path,
    done: np.ndarray,
    block_size: int,
    progress: bool,
) -> GenerateSummary:
    """Solve and write every sample not yet done; stops early (incomplete) on Ctrl-C."""
    problem, n_samples, seed = identity["problem"], identity["n_samples"], identity["seed"]

    todo = np.flatnonzero(~done) if comm.rank == 0 else None
    todo = comm.bcast(todo, root=0)
    already = n_samples - len(todo)
    # at least 16 blocks per rank: slow problems with few samples still use every rank, and
    # the file (and the progress bar) advance often enough to lose little to an interruption
    block = max(1, min(block_size, -(-len(todo) // (16 * comm.size))))
    blocks = [todo[i : i + block] for i in range(0, len(todo), block)]

    bar = tqdm(
        total=n_samples,
        initial=already,
        unit="sample",
        desc=f"{problem} ({comm.size} rank{'s' if comm.size > 1 else ''})",
        disable=not progress or comm.rank != 0,
        mininterval=0.5,
        smoothing=0.05,
    )
    written = 0
    t0 = time.perf_counter()
    with _StopOnSignal() as stop:
        for start in range(0, len(blocks), comm.size):
            mine = blocks[start + comm.rank] if start + comm.rank < len(blocks) else todo[:0]
            result = _solve_block(prob, seed, mine)
            gathered = comm.gather(result, root=0)
            if comm.rank == 0:
                failures = [g for g in gathered if isinstance(g, str)]
                if not failures:
                    try:
                        _write_rounds(out, gathered)
                    except (OSError, GenerationError) as exc:
                        failures = [f"writing {out} failed: {exc}"]
                    else:
                        n_round = sum(len(g[0]) for g in gathered)
                        written += n_round
                        bar.update(n_round)
            else:
                failures = None
            failures = comm.bcast(failures, root=0)
            if failures:
                bar.close()
                raise GenerationError(failures[0])
            if comm.allreduce(stop.requested, op=MPI.LOR):
                break
    bar.close()
    seconds = time.perf_counter() - t0
    written = comm.bcast(written, root=0)
    complete = already + written == n_samples
    return GenerateSummary(out, problem, n_samples, written, already, comm.size, seconds, complete)


def _on_root(comm: MPI.Comm, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on rank 0 and share its result, or raise its GenerationError on every rank."""
    if comm.rank == 0:
        try:
            payload = (fn(), None)
        except (GenerationError, ConfigError) as exc:
            payload = (None, str(exc))
    else:
        payload = None
    result, error = comm.bcast(payload, root=0)
    if error is not None:
        raise GenerationError(error)
    return result


def _inspect(
    out: Path,
    identity: dict[str, Any],
    force: bool,
    problem_cls: type[Problem],
    out_flag: str = "--out",
) -> tuple[str, np.ndarray | None, Path]:
    """State of the target: ("new", None, path to create), ("resume", done mask, path) or
    ("complete", None, out). With ``force``, a dataset made with another setup is replaced
    through a staging file beside it; nothing else is ever replaced."""
    if out.is_dir():
        raise GenerationError(f"cannot write {out}: it is a directory")
    if not out.exists():  # its folder exists and is writable (checked with the lock)
        return "new", None, out
    state, done, difference = _existing(out, identity, problem_cls, out_flag)
    if difference is None:
        return state, done, out
    staging = out.with_name(out.name + ".replacing")
    if not force:
        hint = f" (a replacement is under way in {staging})" if staging.exists() else ""
        replace = " or pass --force to replace it" if out_flag == "--out" else ""
        raise GenerationError(
            f"{out} was generated with a different setup ({difference}); choose another "
            f"{out_flag}{replace}{hint}"
        )
    if staging.exists():
        state, done, difference = _existing(staging, identity, problem_cls, out_flag)
        if difference is None:
            return state, done, staging
    return "new", None, staging


def _existing(
    path: Path, identity: dict[str, Any], problem_cls: type[Problem], out_flag: str = "--out"
) -> tuple[str, np.ndarray | None, str | None]:
    """(state, done mask, None) of a dataset made with ``identity``, or (.., difference) of one
    made otherwise; foreign and damaged files are refused whatever the flags. The file's
    ``problem`` attribute is data: compared with the problem being generated, never looked up
    or imported."""
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise GenerationError(
            f"{path} exists but is not a readable HDF5 file (damaged or foreign); "
            f"refusing to touch it: delete it yourself or choose another {out_flag}"
        ) from None
    with f:
        outside = fmt.outside_problem(f)
        if outside:
            raise GenerationError(f"{path}: {outside}; refusing to touch it")
        if f.attrs.get("format") != fmt.FORMAT_NAME:
            raise GenerationError(
                f"{path} exists and is not a sciml_grow dataset; refusing to overwrite it "
                f"(choose another {out_flag})"
            )
        theirs = {k: _attr(f, k) for k in identity}
        if theirs["problem"] == identity["problem"]:
            theirs["config"] = _with_defaults(problem_cls, theirs["config"])
        if theirs != identity:
            return "different", None, _difference(theirs, identity)
        if bool(f.attrs.get("complete", False)):
            return "complete", None, None
        if "samples/done" not in f or len(f["samples/done"]) != identity["n_samples"]:
            raise GenerationError(f"{path}: damaged (no samples/done mask of the right size)")
        return "resume", f["samples/done"][()].astype(bool), None


def _with_defaults(problem_cls: type[Problem], config: Any) -> Any:
    """A file's config JSON with keys added since it was made filled by their defaults, so a
    file made before a new setting existed resumes as the same setup."""
    try:
        return to_json(from_dict(problem_cls.config_class, json.loads(config)))
    except (ValueError, TypeError, json.JSONDecodeError):
        return config


def _attr(f: h5py.File, key: str) -> Any:
    value = f.attrs.get(key)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _difference(theirs: dict[str, Any], ours: dict[str, Any]) -> str:
    """Human description of the first differences between two identities."""
    for key in ("problem", "n_samples", "seed"):
        if theirs[key] != ours[key]:
            return f"{key}: file has {theirs[key]!r}, this run asks for {ours[key]!r}"
    diffs = differences(json.loads(theirs["config"] or "{}"), json.loads(ours["config"]), "file")
    return "config " + "; ".join(diffs[:3])


def _same_split(path: Path, parts: np.ndarray, out_flag: str = "--out") -> None:
    """An existing file continued or reused with a split must store that split."""
    with h5py.File(path, "r") as f:
        stored = f[fmt.SPLIT][()] if fmt.SPLIT in f else None
    if stored is None or not np.array_equal(stored, parts):
        raise GenerationError(
            f"{path} exists with {'another' if stored is not None else 'no'} stored split; "
            f"choose another {out_flag}"
        )


def _create(
    out: Path, prob: Problem, identity: dict[str, Any], parts: np.ndarray | None = None
) -> None:
    """Write a complete empty dataset (metadata, NaN-filled sample arrays, the fixed split if
    one is given) and rename it."""
    tmp = out.with_name(out.name + ".creating")
    n = identity["n_samples"]
    fields = prob.sample_fields()
    need = sum(
        n * float(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype in fields.values()
    )
    try:
        check_disk(need + n + 2**20, out)
    except ResourceError as exc:
        raise GenerationError(str(exc)) from None
    try:
        with h5py.File(tmp, "w") as f:
            fmt.write_header(f, **identity, versions=prob.versions(), complete=False)
            fmt.write_tree(f, prob.metadata())
            samples = f.create_group(fmt.SAMPLES)
            for name, (shape, dtype) in fields.items():
                group = f if name in (fmt.INPUTS, fmt.TARGETS) else samples
                _preallocated(group, name, (n, *shape), dtype, np.nan)
            _preallocated(samples, "done", (n,), "u1", 0)
            if parts is not None:
                fmt.write_split(f, parts)
            # the problem's metadata follows the format (a user's problem too)
            report = fmt.check_open(f, fmt.CheckReport(out), scan_values=False)
            if not report.ok:
                raise GenerationError(
                    f"{identity['problem']}: its file would not follow the dataset format: "
                    f"{report.errors[0]}"
                )
        os.replace(tmp, out)
    except OSError as exc:
        raise GenerationError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _preallocated(group: h5py.Group, name: str, shape: tuple, dtype: str, fill: float) -> None:
    """A chunked dataset (whole samples per chunk) whose chunks are all allocated and filled
    at creation, so that later writes change raw data only, never the file's structure: a
    kill in mid-write cannot damage the file, and the ``done`` flag (written last) says which
    rows are valid."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_chunk(fmt.sample_chunks(shape, dtype))
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_ALLOC)
    dcpl.set_fill_value(np.array(fill, dtype=dtype))
    space = h5py.h5s.create_simple(shape)
    dset = h5py.h5d.create(
        group.id, name.encode(), h5py.h5t.py_create(np.dtype(dtype)), space, dcpl=dcpl
    )
    dset.close()


def _solve_block(prob: Problem, seed: int, indices: np.ndarray) -> Any:
    """Solve the samples ``indices``; (indices, {name: stacked arrays}) or an error string."""
    rows = []
    for i in indices:
        try:
            row = prob.sample(sample_rng(seed, int(i)))
        except Exception as exc:  # reported collectively so no rank hangs in gather
            return f"solving sample {i} failed: {type(exc).__name__}: {exc}"
        bad = [name for name, v in row.items() if not np.all(np.isfinite(v))]
        if bad:
            return f"sample {i}: {', '.join(bad)} not finite; {prob.nonfinite_hint}"
        rows.append(row)
    fields = prob.sample_fields()
    stacked = {
        name: np.array([r[name] for r in rows], dtype=dtype).reshape(len(rows), *shape)
        for name, (shape, dtype) in fields.items()
    }
    return indices, stacked


def _write_rounds(out: Path, gathered: list[tuple[np.ndarray, dict[str, np.ndarray]]]) -> None:
    """Write gathered blocks, then mark their samples done (data first, flag last)."""
    with _open_for_writing(out) as f:
        done = f["samples/done"]
        for indices, arrays in gathered:
            if len(indices) == 0:
                continue
            where = _selection(indices)
            for name, values in arrays.items():
                target = f[name] if name in ("inputs", "targets") else f["samples"][name]
                target[where] = values
            f.flush()
            done[where] = 1


def _open_for_writing(out: Path, wait: float = 60.0) -> h5py.File:
    """Open the file read-write, waiting while another program (``sciml-grow info`` without
    its lock-free read, an HDF5 viewer) holds HDF5's file lock."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return h5py.File(out, "r+")
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise GenerationError(
                    f"{out} stayed locked by another program for {wait:.0f} s"
                ) from None
            time.sleep(0.1)


def _selection(indices: np.ndarray) -> slice | np.ndarray:
    """A slice for contiguous indices (fast in h5py), else the sorted index array."""
    if np.all(np.diff(indices) == 1):
        return slice(int(indices[0]), int(indices[-1]) + 1)
    return np.sort(indices)


def _finish(
    out: Path, complete: bool, ranks: int, written: int, seconds: float, setup: float
) -> None:
    with _open_for_writing(out) as f:
        runs = json.loads(f.attrs.get("runs", "[]"))
        runs.append(
            {
                "ranks": ranks,
                "samples": written,
                "seconds": round(seconds, 4),
                "setup_seconds": round(setup, 4),
                "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
        f.attrs["runs"] = json.dumps(runs)
        if complete:
            if not np.all(f["samples/done"][()]):
                raise GenerationError(f"{out}: internal error, not every sample was written")
            f.attrs["complete"] = True


class _StopOnSignal:
    """Turn the first SIGINT/SIGTERM into a request to stop after the current round; a second
    one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> _StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
