"""One run directory layout for every strategy.

    config.json          the resolved config, strategy, data file, seed, versions, command
    metrics.csv          one row per epoch
    growth_events.csv    one row per growth decision
    checkpoint.pt        latest training state (resume)
    best.pt              the kept (best-validation) network, self-contained for predict
    final.json           test metrics; written last, so its presence means the run finished

Files are replaced atomically (write to a temporary name, then rename), so a killed run never
leaves a half-written checkpoint or summary.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import torch


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class RunDir:
    """Reads and writes the files of one run."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def exists(self) -> bool:
        return (self.path / "config.json").exists()

    def finished(self) -> bool:
        return (self.path / "final.json").exists()

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)

    # --- json ---
    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_bytes(self.path / name, (json.dumps(obj, indent=2) + "\n").encode())

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text())

    # --- csv ---
    def append_csv(self, name: str, row: dict[str, Any]) -> None:
        """Append a row; the header is written with the first row."""
        path = self.path / name
        new = not path.exists() or path.stat().st_size == 0
        with open(path, "a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)

    def read_csv(self, name: str) -> list[dict[str, str]]:
        path = self.path / name
        if not path.exists():
            return []
        with open(path, newline="") as fh:
            return list(csv.DictReader(fh))

    def truncate_csv(self, name: str, max_epoch: int) -> None:
        """Drop rows after ``max_epoch`` (written after the checkpoint a resume starts from)."""
        rows = self.read_csv(name)
        if not rows:
            return
        keep = [r for r in rows if int(r["epoch"]) <= max_epoch]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(keep)
        atomic_write_bytes(self.path / name, buf.getvalue().encode())

    # --- torch ---
    def save(self, name: str, obj: Any) -> None:
        buf = io.BytesIO()
        torch.save(obj, buf)
        atomic_write_bytes(self.path / name, buf.getvalue())

    def load(self, name: str, device: str | torch.device = "cpu") -> Any:
        return torch.load(self.path / name, map_location=device, weights_only=False)
