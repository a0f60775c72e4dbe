"""The dataset file: the one contract between ``pde_data`` (writers) and ``sciml_grow`` (readers).

One HDF5 file per dataset; this package owns every name in it (:mod:`.names`), the rules a file
must follow (:mod:`.rules`, written once), the one header writer (:mod:`.writer`), the typed
reader every consumer uses (:mod:`.reader`, which raises the first rule a file breaks) and the
schema checker (:mod:`.checker`, ``sciml-grow check FILE``, which reports them all)::

    /inputs              (N, ...)  what a network maps from (noisy observations)
    /targets             (N, ...)  what it maps to (the parameter field, or class labels)
    /samples/<name>      (N, ...)  other per-sample arrays: obs_clean, noise_std, states, ...
    /samples/done        (N,)      1 once sample i is written (resume bookkeeping)
    /split               (N,)      optional: 0 train, 1 validation, 2 test; every command uses it
    /mesh                coordinates (V, d), cells (C, k); attr cell_type
    /observation         points (k, d), matrix (k, V) CSR; attrs observed, linear
    /noise, /prior       attrs describing the models; prior/mean, prior/precision_factor
    /operators           the discrete operators a torch model re-runs the PDE with; attr kind
    /grid                points (G, d), matrix (G, V), shape: where grid targets live
    attrs: format, format_version, problem, n_samples, seed, config (JSON), versions (JSON),
           created, complete (False until every sample is written), runs (JSON), description

Sparse matrices are groups holding CSR ``data``, ``indices``, ``indptr`` and a ``shape`` attr.
A file of someone else's with only ``inputs`` and ``targets`` trains too; the checker says
what else it would need. This package needs only numpy, scipy and h5py.
"""

from sciml_grow.format.checker import (
    SCAN_BYTES,
    CheckReport,
    check_file,
    check_open,
    first_nonfinite,
)
from sciml_grow.format.names import (
    DONE,
    FORMAT_NAME,
    FORMAT_VERSION,
    GRID,
    HEADER,
    INPUTS,
    JSON_ATTRS,
    MESH,
    NOISE,
    NOISE_STD,
    OBS_CLEAN,
    OBSERVATION,
    OPERATORS,
    PARAMETER_MAP,
    PRIOR,
    PRIOR_MEAN,
    PRIOR_PRECISION,
    SAMPLES,
    SPLIT,
    SPLIT_PARTS,
    TARGETS,
    DatasetError,
)
from sciml_grow.format.reader import (
    BEING_WRITTEN,
    Grid,
    Mesh,
    Metadata,
    Sensors,
    attr_json,
    cached_per_file,
    check_array,
    check_format,
    file_key,
    is_csr,
    open_dataset,
    open_file,
    output_kind,
    read_csr,
    read_metadata,
    read_prior,
    read_prior_basis,
    read_samples,
    read_split,
)
from sciml_grow.format.rules import MAX_TARGET, outside_problem, shape_problem, target_scale_problem
from sciml_grow.format.writer import (
    CHUNK_BYTES,
    part_sizes,
    sample_chunks,
    seeded_parts,
    write_csr,
    write_header,
    write_split,
    write_tree,
)

__all__ = [
    "BEING_WRITTEN", "CHUNK_BYTES", "DONE", "FORMAT_NAME", "FORMAT_VERSION", "GRID", "HEADER",
    "MAX_TARGET", "INPUTS", "JSON_ATTRS", "MESH", "NOISE", "NOISE_STD", "OBS_CLEAN", "OBSERVATION",
    "OPERATORS", "PARAMETER_MAP", "PRIOR", "PRIOR_MEAN", "PRIOR_PRECISION", "SAMPLES",
    "SCAN_BYTES", "SPLIT", "SPLIT_PARTS", "TARGETS", "CheckReport", "DatasetError", "Grid",
    "Mesh", "Metadata", "Sensors", "attr_json", "cached_per_file", "check_array",
    "check_file", "check_format", "check_open", "file_key", "first_nonfinite", "is_csr",
    "open_dataset", "open_file", "outside_problem", "output_kind", "part_sizes", "read_csr",
    "read_metadata", "read_prior", "read_prior_basis", "read_samples", "read_split",
    "sample_chunks", "seeded_parts", "shape_problem", "target_scale_problem", "write_csr",
    "write_header", "write_split", "write_tree",
]  # fmt: skip
