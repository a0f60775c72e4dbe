"""The notebook-style quickstart runs top to bottom as a script (generate -> train td ->
predict -> compare), so the README's first example cannot rot."""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys

from .conftest import needs_fenicsx

ROOT = Path(__file__).resolve().parents[1]


@needs_fenicsx
def test_quickstart_runs(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    out = proc.stdout
    assert "valid" in out and "test relative L2 error" in out and "insert at" in out
    assert "| td |" in out and "| baseline |" in out  # the comparison's table
    assert (tmp_path / "compare" / "table.md").exists() and (tmp_path / "td_model.pt").exists()
