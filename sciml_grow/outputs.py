"""Guards for everything a command writes: nothing lost, nothing half-written, one writer.

- An output that exists is replaced only with ``--force``, and only if this toolkit made it: an
  HDF5 file carrying a ``sciml_grow.*`` format tag, or a run directory that holds nothing but
  the run layout's files. Anything else is refused whatever the flags.
- An output is never one of the command's inputs, whatever the flags.
- Commands check all of this before any work, and write beside the target and rename it into
  place at the end (:func:`atomic_h5`, :func:`swap_dir`), so a failure leaves the old output as
  it was and no temporary file behind.
- One process writes an output at a time: :class:`OutputLock` holds an exclusive lock on
  ``<output>.lock`` for the whole job; a second process is told who holds it.
- JSON is written strictly (:func:`json_text`): a number that is undefined becomes ``null``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
import contextlib
from contextlib import contextmanager
from datetime import UTC, datetime
import fcntl
import hashlib
import json
import math
import os
from pathlib import Path
import shutil
import socket
from typing import Any

import h5py

from sciml_grow.errors import UserError, arg


class OutputError(UserError, ValueError):
    """An output cannot be written as asked; the message says why and names the path."""


def same_path(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same file or directory (also through links)."""
    a, b = Path(a), Path(b)
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_not_input(out: str | Path, inputs: Iterable[str | Path], flag: str | None = None) -> None:
    """Refuse an output that is (or, for a directory output, contains) one of the inputs."""
    flag = flag or arg("out")
    out = Path(out)
    for item in inputs:
        if item is None:
            continue
        item = Path(item)
        inside = out.is_dir() and item.exists() and out.resolve() in item.resolve().parents
        if same_path(out, item) or out.resolve() == item.resolve() or inside:
            raise OutputError(f"{flag} {out} is an input of this command ({item}); choose another")


def check_parent(out: Path, flag: str | None = None) -> None:
    """The nearest existing folder above ``out`` must be a writable directory."""
    flag = flag or arg("out")
    parent = out.parent if str(out.parent) else Path(".")
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{flag} {out}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {out}: directory {parent} is not writable")
    limit = os.pathconf(parent, "PC_NAME_MAX") - len(".replacing.lock")  # own suffixes
    for part in out.absolute().relative_to(parent.absolute()).parts:
        if len(part.encode()) > limit:
            raise OutputError(
                f"{flag} {out}: the name {part[:20]}... is too long ({len(part.encode())} "
                f"bytes; at most {limit} here)"
            )


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in blocks (what a provenance record names a file by)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_toolkit_h5(path: Path) -> bool:
    """Whether ``path`` is an HDF5 file this toolkit wrote (a ``sciml_grow.*`` format tag)."""
    try:
        with h5py.File(path, "r", locking=False) as f:
            return str(f.attrs.get("format", "")).startswith("sciml_grow.")
    except OSError:
        return False


def check_file_output(
    out: str | Path, *, force: bool, inputs: Iterable[str | Path] = (), flag: str | None = None
) -> Path:
    """Validate an HDF5 output path before any work: not an input, not a directory, in a
    writable folder, and new unless ``force`` replaces a file this toolkit made."""
    flag = flag or arg("out")
    out = Path(out)
    check_not_input(out, inputs, flag)
    OutputLock(out).check_free()
    if out.is_dir():
        raise OutputError(f"{flag} {out} is a directory; give a file name")
    check_parent(out, flag)  # missing folders are created when the file is written
    if out.exists():
        if not force:
            raise OutputError(f"{flag} {out} exists; pass {arg('force')} to replace it")
        if not is_toolkit_h5(out):
            raise OutputError(
                f"{flag} {out} exists and was not written by sciml-grow; refusing to replace "
                "it even with --force"
            )
    return out


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``path`` through a temporary beside it, renamed into place; none is left behind
    if writing fails (e.g. a full disk)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_h5(out: Path, tag: str) -> Iterator[h5py.File]:
    """Write an HDF5 file beside ``out`` and rename it into place only if the block succeeds;
    the file carries ``format = sciml_grow.<tag>``, so ``--force`` may replace it later."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.writing")
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = f"sciml_grow.{tag}"
            yield f
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def missing_folders(out: Path) -> list[Path]:
    """The folders above ``out`` that do not exist yet, deepest first."""
    return [p for p in out.absolute().parents if not p.exists()]


def swap_dir(new: Path, target: Path) -> None:
    """Put the finished directory ``new`` in place of ``target`` (which may exist): the old one
    is moved aside first and removed only once the new one is in place."""
    if not target.exists():
        os.replace(new, target)
        return
    old = target.with_name(f".{target.name}.{os.getpid()}.replaced")
    os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old)


class OutputLock:
    """An exclusive lock on ``<target>.lock``, held while one process writes ``target``.

    flock(2) locks vanish with their process, so a killed job never leaves a stale lock;
    the file is removed on release, and a process that locked a file being removed tries
    again (it compares inodes), so two writers can never both hold it.
    """

    def __init__(self, target: str | Path):
        self.target = Path(target)
        self.path = self.target.with_name(self.target.name + ".lock")
        self._fd: int | None = None
        self._made: list[Path] = []

    def acquire(self) -> OutputLock:
        self._made = missing_folders(self.path)  # removed on release if nothing was written
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 200).decode(errors="replace").strip()
                os.close(fd)
                raise self._busy(holder) from None
            try:
                current = os.stat(self.path).st_ino
            except FileNotFoundError:
                current = None
            if current != os.fstat(fd).st_ino:  # released and removed meanwhile: try again
                os.close(fd)
                continue
            since = datetime.now(UTC).isoformat(timespec="seconds")
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {since}".encode())
            self._fd = fd
            return self

    def _busy(self, holder: str) -> OutputError:
        return OutputError(
            f"{self.target} is being written by another sciml-grow process ({holder or 'pid ?'}"
            f"; lock {self.path}); wait for it to finish or choose another output"
        )

    def check_free(self) -> None:
        """Raise if another process holds the lock (checked before validating an output that
        such a process may be creating right now); creates nothing."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:  # no lock file (or no such folder): nobody holds it
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise self._busy(os.read(fd, 200).decode(errors="replace").strip()) from None
        finally:
            os.close(fd)

    def release(self) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)  # before unlocking: waiters then see a new inode
        os.close(self._fd)
        self._fd = None
        for folder in self._made:  # deepest first; a folder that holds anything stays
            with contextlib.suppress(OSError):
                folder.rmdir()

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _finite_or_none(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite_or_none(v) for v in obj]
    return obj


def json_text(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON: NaN and infinities (undefined numbers) become null."""
    return json.dumps(_finite_or_none(obj), indent=indent, allow_nan=False) + "\n"
