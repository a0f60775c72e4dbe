"""One training run, in one process or under torchrun (the DDP equality test):

python tests/ddp_run.py DATA OUT STRATEGY [EPOCHS [resume]]
torchrun --nproc_per_node 2 tests/ddp_run.py DATA OUT STRATEGY [EPOCHS [resume]]

STRATEGY:pod trains with a reduced output basis of 6 POD modes.
"""

from __future__ import annotations

from pathlib import Path
import sys

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sciml_grow.data.dataset import Dataset  # noqa: E402
from sciml_grow.training.rundir import RunDir  # noqa: E402
from sciml_grow.training.trainer import Trainer  # noqa: E402
from tests.conftest import quick_config  # noqa: E402

if __name__ == "__main__":
    torch.set_num_threads(1)
    data, out, strategy = sys.argv[1:4]
    epochs = int(sys.argv[4]) if len(sys.argv) > 4 else 40
    strategy, _, basis = strategy.partition(":")
    pod = {"model.output_basis": "pod", "model.output_modes": 6} if basis == "pod" else {}
    cfg = quick_config(strategy=strategy, epochs=epochs, **pod)
    resume = sys.argv[5:6] == ["resume"]
    trainer = Trainer(cfg, Dataset(data, cfg.data), RunDir(out), progress=False)
    trainer.run_training(resume=resume)
