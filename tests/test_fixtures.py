"""The committed fixture files are what the generators make today: regenerating them with
``tests/fixtures/regenerate.sh``'s commands gives bitwise the same datasets."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from .conftest import FIXTURES, needs_fenicsx

COMMANDS = {  # as in tests/fixtures/regenerate.sh
    "heat.h5": (48, 7, {"mesh_cells": 8}),
    "heat_train.h5": (240, 3, {"mesh_cells": 8}),
    "heat_target.h5": (120, 5, {"mesh_cells": 8, "prior": {"correlation_length": 0.15}}),
}


def arrays(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}

    def keep(name: str, obj: h5py.HLObject) -> None:
        if isinstance(obj, h5py.Dataset):
            out[name] = obj[()]

    with h5py.File(path, "r") as f:
        f.visititems(keep)
        out["config"] = np.array(f.attrs["config"])
    return out


@needs_fenicsx
@pytest.mark.parametrize("name", list(COMMANDS))
def test_committed_fixture_is_what_the_generator_makes(name: str, tmp_path: Path) -> None:
    from pde_data.generate import generate

    samples, seed, config = COMMANDS[name]
    fresh = tmp_path / name
    generate("heat", samples, fresh, seed=seed, config=config, progress=False)
    committed, made = arrays(FIXTURES / name), arrays(fresh)
    assert committed.keys() == made.keys()
    for key in made:
        np.testing.assert_array_equal(committed[key], made[key], err_msg=key)
