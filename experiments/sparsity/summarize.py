"""Table and plot of the sparsity sweep: per (L1 mode, alpha), the exact-zero fraction, the
nonzero parameters and the test error over paired seeds, and the paired difference of the
error against the dense run (alpha = 0) with its 95 % interval (sciml_grow.study.stats).

Usage: python experiments/sparsity/summarize.py OUT_DIR DEST_DIR
"""

from __future__ import annotations

import csv
from pathlib import Path
import sys

from matplotlib.figure import Figure
import numpy as np

from sciml_grow.study.stats import paired
from sciml_grow.study.tables import header, row

ALPHAS = ("0", "3e-5", "5e-5", "1e-4", "2e-4", "3e-4", "1e-3")  # as in run.sh


def runs(folder: Path) -> dict[int, dict[str, float]]:
    with open(folder / "results.csv", newline="") as fh:
        return {
            int(r["seed"]): {
                k: float(v) for k, v in r.items() if k != "strategy" and v not in ("", "None")
            }
            for r in csv.DictReader(fh)
        }


def main(out: Path, dest: Path) -> None:
    dense = runs(out / "proximal-0")
    seeds = sorted(dense)
    base = np.array([dense[k]["rel_l2_mean"] for k in seeds])
    lines = header(["L1", "alpha", "exact zeros", "nonzero params", "test rel. L2 error",
                    "vs dense (95 % CI)", "verdict"])  # fmt: skip
    points: dict[str, list[tuple[float, float]]] = {}
    for mode in ("proximal", "subgradient"):
        for alpha in ALPHAS:
            folder = out / f"{mode}-{alpha}" if (mode, alpha) != ("subgradient", "0") else None
            if folder is None or not (folder / "results.csv").exists():
                continue
            r = runs(folder)
            err = np.array([r[k]["rel_l2_mean"] for k in seeds])
            zeros = np.array([r[k]["zero_weight_fraction"] for k in seeds])
            nonzero = np.array([r[k]["n_params"] * (1 - r[k]["zero_weight_fraction"])
                                for k in seeds])  # fmt: skip
            versus = ""
            verdict = "(the dense reference)" if alpha == "0" else ""
            if alpha != "0":
                p = paired(err, base, f"{mode} {alpha}", "dense", 500)
                versus, verdict = p.relative_text(float(base.mean())), p.verdict
            error = f"{err.mean():.4f} ± {err.std(ddof=1):.4f}"
            cells = [mode, alpha, f"{zeros.mean():.1%}", f"{nonzero.mean():.0f}", error]
            lines.append(row([*cells, versus, verdict]))
            points.setdefault(mode, []).append((zeros.mean(), err.mean()))
    text = "\n".join(lines) + (
        f"\n\nMean over {len(seeds)} paired seeds (seed k: the same training subset, starting "
        "weights and batches in every setting); vs dense: the paired difference of the test "
        "error against alpha = 0, in % of its mean, with its 95 % bootstrap interval; a verdict "
        "needs the interval to exclude 0 and Wilcoxon p < 0.05.\n"
    )
    (dest / "table.md").write_text(text)
    fig = Figure(figsize=(6.5, 4.2))
    ax = fig.subplots()
    for mode, pts in points.items():
        z, e = zip(*pts, strict=True)
        ax.plot(np.array(z) * 100, e, "o-", label=f"L1 {mode}")
    ax.axvline(70, color="gray", ls=":", lw=1)
    ax.axhline(base.mean() * 1.02, color="gray", ls="--", lw=1, label="dense + 2 %")
    ax.set(xlabel="exact zeros (% of weights and biases)", ylabel="test relative L2 error",
           title="Layerwise training: sparsity against error (alpha swept)")  # fmt: skip
    ax.legend()
    fig.tight_layout()
    fig.savefig(dest / "sparsity.png", dpi=110)
    print(text)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
