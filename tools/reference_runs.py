"""Reference runs that pin the toolkit's behaviour across a refactor.

    python tools/reference_runs.py run OUT      # generate, train every strategy, compare, transfer
    python tools/reference_runs.py diff A B     # compare two OUT folders' manifests

``run`` writes ``OUT/manifest.json``: a digest per artifact with the keys that measure time
(or name the machine, the date, the versions) left out, so two folders made by different
commits hold the same digests exactly when the two commits computed the same numbers.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
from pathlib import Path
import re
import sys
from typing import Any

# keys whose values differ between two identical computations: clocks, hosts, paths, versions
VOLATILE = (
    "time",
    "seconds",
    "elapsed",
    "wall",
    "date",
    "created",
    "host",
    "version",
    "python",
    "torch",
    "path",
    "replaces",
    "started",
    "finished_at",
    "pid",
)
SKIP_FILES = {"manifest.json", "progress.log"}


# more keys to leave out, to compare with a commit that did not write them yet:
# REFERENCE_IGNORE=flops,memory python tools/reference_runs.py run OUT
IGNORED = tuple(k for k in os.environ.get("REFERENCE_IGNORE", "").split(",") if k)


def volatile(key: str) -> bool:
    k = key.lower()
    return any(v in k for v in VOLATILE + IGNORED)


STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")  # an ISO date and time


def scrub(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: scrub(v) for k, v in obj.items() if not volatile(str(k))}
    if isinstance(obj, list):
        return [scrub(v) for v in obj]
    if isinstance(obj, str):
        return "<date>" if STAMP.match(obj) else obj.replace(ROOT[0], "OUT")
    return obj


ROOT = [""]  # the folder being digested: paths inside it are written OUT/...


def digest_md(text: str) -> str:
    """Markdown tables with their timing columns blanked, and no seconds in the prose."""
    lines, timed = [], set()
    for line in text.replace(ROOT[0], "OUT").splitlines():
        cells = line.split("|")
        if line.startswith("|") and "time" in line and "---" not in line:
            timed = {i for i, c in enumerate(cells) if "time" in c}
        elif line.startswith("|"):
            cells = ["" if i in timed else c for i, c in enumerate(cells)]
        else:
            timed = set()
        lines.append(re.sub(r"[\d.e+-]+ s per sample", "s per sample", "|".join(cells)))
    return sha("\n".join(lines))


def digest_json(text: str) -> str:
    return sha(json.dumps(scrub(json.loads(text)), sort_keys=True))


def digest_jsonl(text: str) -> str:
    rows = [scrub(json.loads(line)) for line in text.splitlines() if line.strip()]
    return sha(json.dumps(rows, sort_keys=True))


def digest_csv(text: str) -> str:
    rows = list(csv.DictReader(io.StringIO(text)))
    return sha(json.dumps([scrub(r) for r in rows], sort_keys=True))


def digest_torch(path: Path) -> str:
    import torch

    def walk(obj: Any) -> Any:
        if isinstance(obj, torch.Tensor):
            return sha(obj.detach().cpu().contiguous().numpy().tobytes()) + str(obj.dtype)
        if isinstance(obj, dict):
            return {str(k): walk(v) for k, v in obj.items() if not volatile(str(k))}
        if isinstance(obj, list | tuple):
            return [walk(v) for v in obj]
        return repr(obj)

    return sha(json.dumps(walk(torch.load(path, weights_only=True)), sort_keys=True))


def parse(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def digest_h5(path: Path) -> str:
    import h5py

    parts: list[str] = []

    def visit(name: str, obj: Any) -> None:
        attrs = {k: repr(scrub(parse(v))) for k, v in obj.attrs.items() if not volatile(k)}
        parts.append(f"{name} {json.dumps(attrs, sort_keys=True)}")
        if isinstance(obj, h5py.Dataset):
            parts.append(sha(obj[()].tobytes() if obj.shape != () else repr(obj[()]).encode()))

    with h5py.File(path, "r") as f:
        visit("/", f)
        f.visititems(visit)
    return sha("\n".join(parts))


def digest(path: Path) -> str | None:
    suffix = path.suffix
    if suffix == ".json":
        return digest_json(path.read_text())
    if suffix == ".jsonl":
        return digest_jsonl(path.read_text())
    if suffix == ".csv":
        return digest_csv(path.read_text())
    if suffix == ".pt":
        return digest_torch(path)
    if suffix == ".h5":
        return digest_h5(path)
    if suffix == ".md":
        return digest_md(path.read_text())
    if suffix in {".toml", ".txt"}:
        return sha(path.read_text().replace(ROOT[0], "OUT"))
    return None  # plots and logs: not compared


def sha(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()[:16]


def manifest(out: Path) -> dict[str, str]:
    ROOT[0] = str(out.resolve())
    found = {}
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.name not in SKIP_FILES:
            d = digest(p)
            if d is not None:
                found[str(p.relative_to(out))] = d
    return found


def run(out: Path) -> None:
    import sciml_grow as sg

    out.mkdir(parents=True, exist_ok=True)
    data = out / "heat.h5"
    small = {"mesh_cells": 8}
    sg.generate("heat", 48, data, seed=0, config=small, progress=False)
    base = {
        "epochs": 30,
        "model": {"width": 8, "initial_blocks": 1},
        "growth": {"max_blocks": 3, "every": 10, "patience": 5, "min_phase_epochs": 5},
    }
    for name in sg.STRATEGIES:
        if name == "finetune":
            continue
        sg.fit(data, base, strategy=name, out=out / "runs" / name, progress=False)
    sg.compare(data, ["baseline", "td"], out=out / "compare", seeds=2, config=base,
               train_sizes=[12, None], reference_samples=8, plots=False)  # fmt: skip
    sg.transfer(out / "runs" / "td", data, out=out / "transfer", methods=["scratch", "full"],
                sizes=[8], seeds=2, config={"epochs": 10}, plots=False)  # fmt: skip
    (out / "manifest.json").write_text(json.dumps(manifest(out), indent=1, sort_keys=True))


def diff(a: Path, b: Path) -> int:
    ma = json.loads((a / "manifest.json").read_text())
    mb = json.loads((b / "manifest.json").read_text())
    bad = 0
    for key in sorted(set(ma) | set(mb)):
        if ma.get(key) != mb.get(key):
            bad += 1
            print(f"differs: {key}  {ma.get(key)}  {mb.get(key)}")
    print(f"{len(set(ma) | set(mb))} artifacts, {bad} differ")
    return 1 if bad else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("run").add_argument("out", type=Path)
    sub.add_parser("digest").add_argument("out", type=Path)
    d = sub.add_parser("diff")
    d.add_argument("a", type=Path)
    d.add_argument("b", type=Path)
    args = p.parse_args()
    if args.cmd == "run":
        run(args.out)
        return 0
    if args.cmd == "digest":  # re-digest a folder made earlier (after this script changed)
        (args.out / "manifest.json").write_text(json.dumps(manifest(args.out), indent=1))
        return 0
    return diff(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main())
