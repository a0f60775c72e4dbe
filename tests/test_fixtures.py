"""The committed fixture files are what the generators make today: regenerating them with
``tests/fixtures/regenerate.sh``'s commands gives the same datasets. Equal to round-off, not
bitwise: the files were made on one machine and this may run on another CPU, whose vector
instructions may round sums differently; a change to a generator changes far more."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from .conftest import FIXTURES, needs_fenicsx
from .toy import h5_arrays

COMMANDS = {  # as in tests/fixtures/regenerate.sh
    "heat.h5": (48, 7, {"mesh_cells": 8}),
    "heat_train.h5": (240, 3, {"mesh_cells": 8}),
    "heat_target.h5": (120, 5, {"mesh_cells": 8, "prior": {"correlation_length": 0.15}}),
}


@needs_fenicsx
@pytest.mark.parametrize("name", list(COMMANDS))
def test_committed_fixture_is_what_the_generator_makes(name: str, tmp_path: Path) -> None:
    from pde_data.generate import generate

    samples, seed, config = COMMANDS[name]
    fresh = tmp_path / name
    generate("heat", samples, fresh, seed=seed, config=config, progress=False)
    committed, made = h5_arrays(FIXTURES / name), h5_arrays(fresh)
    assert committed.keys() == made.keys()
    for key in made:
        if made[key].dtype.kind == "f":
            np.testing.assert_allclose(
                committed[key], made[key], rtol=1e-10, atol=1e-13, err_msg=key
            )
        else:
            np.testing.assert_array_equal(committed[key], made[key], err_msg=key)
    with h5py.File(FIXTURES / name, "r") as a, h5py.File(fresh, "r") as b:
        assert a.attrs["config"] == b.attrs["config"]
