"""Make FEniCSx unimportable in this interpreter and every process it starts (``make
test-torch`` puts this folder first on PYTHONPATH): the torch side must work without it."""

import sys

for name in ("dolfinx", "basix", "ufl", "ffcx", "petsc4py"):
    sys.modules[name] = None  # any import of these now raises ImportError
