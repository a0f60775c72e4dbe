#!/usr/bin/env bash
# Create .venv (Python >= 3.12) with everything sciml_grow and pde_data need.
# Idempotent: a finished setup leaves .venv/.setup-done and later calls return at once.
# Where the base interpreter already imports dolfinx >= 0.10 (conda, docker), the venv
# sees it through --system-site-packages and no second FEniCSx is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
STAMP="$VENV/.setup-done"
if [[ -f "$STAMP" && "$STAMP" -nt pyproject.toml ]]; then exit 0; fi

ok_python() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; }
find_python() {
  local c
  for c in "${PYTHON:-}" python3.13 python3.12 python3 python; do
    [[ -n "$c" ]] && command -v "$c" >/dev/null 2>&1 && ok_python "$c" && { command -v "$c"; return; }
  done
  # pyenv installs that are not the active version (their shims refuse to run)
  for c in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3; do
    [[ -x "$c" ]] && ok_python "$c" && { echo "$c"; return; }
  done
  return 1
}
PY=$(find_python) || { echo "setup: need Python >= 3.12 (set PYTHON=/path/to/python3.12)" >&2; exit 1; }

has_dolfinx() {
  "$1" - <<'PY' 2>/dev/null
import sys
from mpi4py import MPI  # noqa: F401  (the MPI library must be loaded before dolfinx)
import dolfinx
major, minor = (int(x) for x in dolfinx.__version__.split(".")[:2])
sys.exit(0 if (major, minor) >= (0, 10) else 1)
PY
}

if has_dolfinx "$PY"; then
  echo "setup: using the dolfinx already installed for $PY"
  [[ -d "$VENV" ]] || "$PY" -m venv --system-site-packages "$VENV"
  FENICS=()
else
  [[ -d "$VENV" ]] || "$PY" -m venv "$VENV"
  if has_dolfinx "$VENV/bin/python"; then FENICS=(); else FENICS=("dolfinx-solver-real>=0.10"); fi
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "${FENICS[@]}" -e ".[dev,datasets]"
"$VENV/bin/python" -c "from mpi4py import MPI; import dolfinx, torch, h5py; print('setup: dolfinx', dolfinx.__version__, '| torch', torch.__version__, '| h5py', h5py.__version__)"
touch "$STAMP"
