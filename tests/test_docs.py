"""The documentation stays true: links resolve, the names and flags it uses exist, and nothing in
the repository refers to files outside it."""

from __future__ import annotations

from pathlib import Path
import re
import subprocess

import pytest

import sciml_grow as sg
from sciml_grow.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TEXT = {".py", ".md", ".toml", ".sh", ".yml", ".yaml", ".cfg", ".txt", ".json", ""}


def tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()  # fmt: skip
        files = [ROOT / f for f in out]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout
        files = [p for p in ROOT.rglob("*") if ".venv" not in p.parts and ".git" not in p.parts]
    return [p for p in files if p.is_file() and p.suffix in TEXT and p.stat().st_size < 2 << 20]


def test_nothing_refers_to_files_outside_the_repository():
    outside = ["../" + "shared", "method" + "-notes", "method " + "notes", "/work/" + "main"]
    found = []
    for path in tracked_files():
        text = path.read_text(errors="replace").lower()
        found += [f"{path.relative_to(ROOT)}: {o}" for o in outside if o in text]
    assert not found, found


def slug(heading: str) -> str:
    """A heading's anchor as GitHub and MkDocs make it."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {slug(m) for m in re.findall(r"^#+ (.+)$", text, flags=re.M)}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_link_resolves(doc):
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)
    bad = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        if (
            not path.exists()
            or ROOT not in path.parents
            or anchor
            and path.suffix == ".md"
            and anchor not in anchors(path)
        ):
            bad.append(target)
    assert not bad, bad


def test_every_sg_name_the_docs_use_exists():
    names = set()
    for doc in DOCS:
        names |= set(re.findall(r"\bsg\.([A-Za-z_]\w*)", doc.read_text()))
    missing = sorted(n for n in names if not hasattr(sg, n))
    assert not missing, missing
    assert {"from_arrays", "fit", "compare", "UserError"} <= names


def test_every_command_and_flag_the_docs_use_exists():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.choices and "train" in a.choices)
    flags = {"--help", "--version"}
    parsers = list(sub.choices.values())
    while parsers:  # subcommands and theirs (benchmark list/run)
        p = parsers.pop()
        flags |= {o for a in p._actions for o in a.option_strings}
        parsers += [
            c for a in p._actions if isinstance(a.choices, dict) for c in a.choices.values()
        ]
    text = "\n".join(d.read_text() for d in DOCS)
    code = "\n".join(re.findall(r"```.*?```|`[^`\n]+`", text, flags=re.S))
    commands = set(re.findall(r"sciml-grow ([a-z]+)\b", code))
    assert {"generate", "import", "compare"} <= commands <= set(sub.choices), commands
    # the command's flags (performance.md also runs benchmark scripts with flags of their own)
    ours = "\n".join(d.read_text() for d in DOCS if d.name != "performance.md")
    used = set(re.findall(r"(?<![\w-])(--[a-z][a-z_-]*)", ours))
    external = {"--standalone", "--nproc_per_node", "--system-site-packages", "--strict"}
    external.add("--command")  # tools/benchmark_card.py's
    assert not used - flags - external, sorted(used - flags - external)
