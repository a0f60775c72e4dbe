# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # sciml_grow quickstart: generate, train a growing network, predict, compare
#
# A small heat-conductivity inverse problem: recover the log-conductivity field `m` on a
# 16 x 16 mesh from 10 noisy temperature sensors. Runs in well under a minute on 2 CPU cores.
# Open it as a notebook with `jupytext --to notebook examples/quickstart.py`, or run it as a
# script: `python examples/quickstart.py [OUTPUT_FOLDER]`.

# %%
from pathlib import Path
import sys
import tempfile

import numpy as np

import sciml_grow as sg

folder = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="sg-quickstart-"))
folder.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## 1. Generate a dataset (FEniCSx; under `mpiexec -n P` the samples are spread over ranks)

# %%
data_file = folder / "heat.h5"
sg.generate(
    "heat",
    600,
    data_file,
    seed=0,
    config={"mesh_cells": 16, "prior": {"correlation_length": 0.5}},
    progress=False,
)
print(sg.check(data_file).text())

# %% [markdown]
# ## 2. Open it once: typed metadata and the train / validation / test split

# %%
ds = sg.load(data_file)
meta = ds.meta
print(
    f"{meta.problem}: {meta.n_samples} samples, {len(meta.sensors.points)} sensors, "
    f"mesh of {len(meta.mesh.coordinates)} vertices, noise {meta.noise['relative_level']}"
)
print({name: len(idx) for name, idx in ds.splits.items()})
train = ds.torch_dataset("train")  # a torch.utils.data.Dataset (standardized, float32)
x0, y0 = train[0]
print("one training pair:", tuple(x0.shape), tuple(y0.shape))

# %% [markdown]
# ## 3. Train a network that grows by the topological derivative

# %%
config = sg.TrainConfig(
    strategy="td",
    epochs=120,
    model=sg.ModelConfig(width=24, initial_blocks=1),
    growth=sg.GrowthConfig(max_blocks=3, patience=10, min_phase_epochs=10),
)
model = sg.fit(ds, config, progress=False)
print(
    f"depth {model.final['final_depth']}, test relative L2 error "
    f"{model.final['test']['rel_l2_mean']:.4f}"
)
for event in model.events:
    print(f"  epoch {event['epoch']}: {event['reason']} at position {event['position']}")

# %% [markdown]
# ## 4. Predict fields from new observations (original units in, original units out)

# %%
test = ds.splits["test"]
fields = model.predict(ds.x[test].numpy())
truth = ds.y[test].numpy()
error = np.linalg.norm(fields - truth, axis=1) / np.linalg.norm(truth, axis=1)
print(
    f"predicted {fields.shape[0]} fields of {fields.shape[1]} values; "
    f"mean relative error {error.mean():.4f}"
)
model.save(folder / "td_model.pt")
again = sg.Predictor.load(folder / "td_model.pt")
assert np.array_equal(again.predict(ds.x[test].numpy()), fields)

# %% [markdown]
# ## 5. One topological-derivative decision inside your own loop

# %%
net = sg.build_network(ds, width=16, initial_blocks=1)
x, y = ds.tensors("train")
decision = sg.td_decision(net, x, y)
print(
    "scores per depth:",
    [f"{s:.3g}" for s in decision.scores],
    "-> insert at",
    decision.position,
    f"(predicted change at eps = 0.5: {decision.predicted_change(0.5):+.3g})",
)

# %% [markdown]
# ## 6. Compare strategies with paired seeds
#
# Seed k gives every strategy the same starting weights and batches; the baseline trains td's
# final architecture from scratch. Two seeds give no verdict: the table says so.

# %%
result = sg.compare(
    data_file,
    ["baseline", "td"],
    out=folder / "compare",
    seeds=2,
    config={"model": {"width": 16}, "growth": {"every": 20, "min_phase_epochs": 10}},
    epochs=60,
    reference_samples=5,
    plots=False,
)
print(result.table)
