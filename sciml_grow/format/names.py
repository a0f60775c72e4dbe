"""Every name in a dataset file, and the error its readers raise."""

from __future__ import annotations

from sciml_grow.errors import UserError

FORMAT_NAME = "sciml_grow.dataset"
FORMAT_VERSION = 1

# --- names ---------------------------------------------------------------------------------
INPUTS = "inputs"
TARGETS = "targets"
SAMPLES = "samples"
DONE = "samples/done"
NOISE_STD = "samples/noise_std"
OBS_CLEAN = "samples/obs_clean"
MESH = "mesh"
OBSERVATION = "observation"
NOISE = "noise"
PRIOR = "prior"
PRIOR_MEAN = "prior/mean"
PRIOR_PRECISION = "prior/precision_factor"
OPERATORS = "operators"
PARAMETER_MAP = "operators/parameter_map"
GRID = "grid"
SPLIT = "split"  # optional (N,) int8: the part of every sample, a fixed train/val/test split
SPLIT_PARTS = ("train", "val", "test")  # value i of /split means SPLIT_PARTS[i]
# attributes of the root group: the header
HEADER = (
    "format",
    "format_version",
    "problem",
    "n_samples",
    "seed",
    "config",
    "versions",
    "created",
    "complete",
    "runs",
)
JSON_ATTRS = ("config", "versions", "runs")


class DatasetError(UserError):
    """The file is missing, foreign, damaged or incomplete; the message says which."""
