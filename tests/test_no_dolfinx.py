"""sciml_grow must import and read datasets on a machine with only torch and h5py."""

import subprocess
import sys

BLOCK = (
    "import sys\n"
    "for name in ('dolfinx', 'petsc4py', 'ufl', 'basix', 'ffcx'):\n"
    "    sys.modules[name] = None  # any import of these now fails\n"
)


def test_training_side_imports_without_fenicsx(heat_file):
    code = BLOCK + (
        "import pkgutil, importlib, sciml_grow\n"
        "mods = [m.name for m in pkgutil.walk_packages(sciml_grow.__path__, 'sciml_grow.')]\n"
        "for m in mods: importlib.import_module(m)\n"
        "from sciml_grow.cli import main\n"
        f"sys.exit(main(['info', {str(heat_file)!r}]))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "problem     heat" in r.stdout
    assert "dolfinx" not in r.stderr


def test_generate_without_fenicsx_says_what_is_missing(tmp_path):
    args = ["generate", "heat", "--samples", "2", "--out", str(tmp_path / "x.h5")]
    code = BLOCK + f"from sciml_grow.cli import main\nsys.exit(main({args!r}))\n"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.startswith("sciml-grow: error: generating data needs FEniCSx")
    assert len(r.stderr.strip().splitlines()) == 1
