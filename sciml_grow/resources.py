"""Memory and disk a job will need, checked against what the machine has before it starts.

The estimates are rough upper bounds of the big arrays only; they exist to turn "runs until
the machine is out of memory or the disk is full" into one line before anything is written.
"""

from __future__ import annotations

import os
from pathlib import Path
import shutil

from sciml_grow.errors import UserError


class ResourceError(UserError, ValueError):
    """A job would not fit in this machine's memory or disk; the message names both sizes."""


def human(n: float) -> str:
    """Bytes in a readable unit (1.5 GiB)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def available_memory() -> int:
    """Memory the kernel says a new allocation can get (MemAvailable), in bytes."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_memory(need: float, what: str) -> None:
    """Refuse a job whose big arrays alone would take more than the available memory."""
    have = available_memory()
    if need > have:
        raise ResourceError(
            f"{what} needs about {human(need)} of memory, this machine has {human(have)} available"
        )


def check_disk(need: float, path: Path) -> None:
    """Refuse to create a file of ``need`` bytes where its filesystem has less free space."""
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:  # folders still to be made
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if need > free:
        raise ResourceError(
            f"{path} would need about {human(need)}, the filesystem of {folder} has "
            f"{human(free)} free"
        )
