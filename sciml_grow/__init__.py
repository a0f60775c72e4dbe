"""sciml_grow: networks that grow in depth while training, for PDE inverse problems.

The public API (see :mod:`sciml_grow.api`)::

    import sciml_grow as sg
    ds = sg.load("heat.h5")                                  # metadata + splits
    model = sg.fit(ds, sg.TrainConfig(strategy="td"))        # a fitted predictor
    fields = model.predict(observations)
    result = sg.compare("heat.h5", ["baseline", "td"], out="cmp")

Imports and trains without FEniCSx; datasets come from :mod:`pde_data` through one HDF5 file
(:mod:`sciml_grow.format`). Names load on first use, so ``import sciml_grow`` is quick and
touches neither torch nor matplotlib's backend.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sciml_grow._version import __version__

_EXPORTS = {
    # data and the file contract
    "load": "sciml_grow.api",
    "check": "sciml_grow.api",
    "generate": "sciml_grow.api",
    "Dataset": "sciml_grow.data.dataset",
    "DataConfig": "sciml_grow.data.dataset",
    "read_metadata": "sciml_grow.format",
    "Metadata": "sciml_grow.format",
    "CheckReport": "sciml_grow.format",
    "DatasetError": "sciml_grow.format",
    "export": "sciml_grow.data.export:export_xdmf",
    "from_arrays": "sciml_grow.data.arrays",
    # networks and growth
    "build_network": "sciml_grow.api",
    "td_decision": "sciml_grow.api",
    "TDDecision": "sciml_grow.api",
    "STRATEGIES": "sciml_grow.growth",
    # training
    "fit": "sciml_grow.api",
    "resume": "sciml_grow.api",
    "predict_file": "sciml_grow.api",
    "Predictor": "sciml_grow.training.predictor",
    "TrainConfig": "sciml_grow.training.config",
    "ModelConfig": "sciml_grow.training.config",
    "OptimConfig": "sciml_grow.training.config",
    "GrowthConfig": "sciml_grow.training.config",
    "LayerwiseConfig": "sciml_grow.training.config",
    "FinetuneConfig": "sciml_grow.training.config",
    "SearchConfig": "sciml_grow.training.config",
    "ConfigError": "sciml_grow.config",
    # errors: every one the toolkit raises on purpose is a UserError
    "UserError": "sciml_grow.errors",
    "SciMLGrowError": "sciml_grow.errors",  # = UserError
    "InputError": "sciml_grow.errors",
    "ModelFileError": "sciml_grow.errors",
    "DataImportError": "sciml_grow.errors",
    "OutputError": "sciml_grow.outputs",
    "ResourceError": "sciml_grow.resources",
    # studies
    "compare": "sciml_grow.api",
    "benchmark": "sciml_grow.api",
    "run_benchmark": "sciml_grow.api",
    "transfer": "sciml_grow.api",
    "map_estimates": "sciml_grow.api",
    "Comparison": "sciml_grow.api",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'sciml_grow' has no attribute {name!r}")
    module, _, attr = _EXPORTS[name].partition(":")
    value = getattr(importlib.import_module(module), attr or name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # for editors and type checkers: the names as plain imports
    from sciml_grow.api import (  # noqa: F401
        Comparison,
        TDDecision,
        benchmark,
        build_network,
        check,
        compare,
        fit,
        generate,
        load,
        map_estimates,
        predict_file,
        resume,
        run_benchmark,
        td_decision,
        transfer,
    )
    from sciml_grow.config import ConfigError  # noqa: F401
    from sciml_grow.data.arrays import from_arrays  # noqa: F401
    from sciml_grow.data.dataset import DataConfig, Dataset  # noqa: F401
    from sciml_grow.data.export import export_xdmf as export  # noqa: F401
    from sciml_grow.errors import (  # noqa: F401
        DataImportError,
        InputError,
        ModelFileError,
        SciMLGrowError,
        UserError,
    )
    from sciml_grow.format import CheckReport, DatasetError, Metadata, read_metadata  # noqa: F401
    from sciml_grow.growth import STRATEGIES  # noqa: F401
    from sciml_grow.outputs import OutputError  # noqa: F401
    from sciml_grow.resources import ResourceError  # noqa: F401
    from sciml_grow.training.config import (  # noqa: F401
        FinetuneConfig,
        GrowthConfig,
        LayerwiseConfig,
        ModelConfig,
        OptimConfig,
        SearchConfig,
        TrainConfig,
    )
    from sciml_grow.training.predictor import Predictor  # noqa: F401
