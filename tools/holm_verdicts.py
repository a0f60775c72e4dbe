"""Which verdicts of committed experiment tables survive Holm's correction.

    python tools/holm_verdicts.py [experiments]

Tables made before verdicts were corrected for multiple comparisons hold raw p-values in their
``stats.csv``. This regroups each file's rows into the families ``compare`` uses now (the
comparisons against the reference at one training size; the other pairs at that size),
adjusts them (``sciml_grow.study.stats.holm``) and prints every verdict that changes.
"""

from __future__ import annotations

from pathlib import Path
import sys

from sciml_grow.study.compare import read_stats
from sciml_grow.study.stats import holm


def main(root: Path) -> int:
    for path in sorted(root.glob("**/stats.csv")):
        if "out" in path.parts:
            continue
        rows = read_stats(path)
        if not rows or all(p.family_size > 1 for p in rows):  # corrected when made
            continue
        against = [p.against for p in rows]
        ref = max(set(against), key=against.count)
        families: dict[tuple, list] = {}
        for p in rows:
            families.setdefault((p.train_size, p.against == ref), []).append(p)
        changed = []
        for family in families.values():
            before = [p.verdict for p in family]
            for p, was in zip(holm(family), before, strict=True):
                if p.verdict != was:
                    changed.append(
                        f"  {p.strategy} vs {p.against}, N = {p.train_size:g}: {was} -> "
                        f"{p.verdict} (p {p.p_value:.3g} -> {p.p_adjusted:.3g}, family of "
                        f"{p.family_size})"
                    )
        print(f"{path}: {len(rows)} comparisons, {len(changed)} verdicts change")
        for line in changed:
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "experiments")))
