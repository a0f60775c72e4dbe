# Two commands do everything on a fresh machine: `make demo` and `make test`.
VENV    ?= .venv
PY      := $(VENV)/bin/python
CLI     := $(VENV)/bin/sciml-grow
# The FEniCSx wheel puts MPICH's mpiexec in the venv; a system FEniCSx brings its own.
MPIEXEC ?= $(shell test -x $(VENV)/bin/mpiexec && echo $(VENV)/bin/mpiexec || command -v mpiexec)
DEMO    ?= demo_out

.PHONY: setup demo test test-torch lint docs bench clean

setup: $(VENV)/.setup-done

$(VENV)/.setup-done: pyproject.toml tools/setup_venv.sh
	bash tools/setup_venv.sh

demo: setup
	@mkdir -p $(DEMO)
	$(MPIEXEC) -n 2 $(CLI) generate heat --samples 2000 --out $(DEMO)/heat.h5 --seed 0 \
		--set prior.correlation_length=0.5 --force
	$(CLI) info $(DEMO)/heat.h5
	$(MPIEXEC) -n 2 $(CLI) compare --data $(DEMO)/heat.h5 \
		--strategies baseline,td,net2deeper --seeds 10 --train-sizes 50,200,1000 \
		--config experiments/demo/config.toml --reference-samples 40 --budgets 0.1x,0.3x,1x \
		--out $(DEMO)/compare

test: setup
	$(PY) -m pytest -q

# the torch side alone, as on a GPU box with only torch and h5py: FEniCSx made unimportable
# (in every process the tests start); tests that generate data with it are skipped
test-torch: setup
	PYTHONPATH=tests/no_fenicsx $(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# the documentation in docs/ as a static site (MkDocs, Material theme) in site/
docs: setup
	$(PY) -m pip install -q -e ".[docs]"
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

bench: setup
	$(PY) benchmarks/generation.py
	$(PY) benchmarks/generation.py --problem wind --samples 1000
	$(PY) benchmarks/generation.py --problem navier_stokes --samples 200 --plain 10
	$(PY) benchmarks/manifold_penalty.py
	$(PY) benchmarks/loop_overhead.py

clean:
	rm -rf $(DEMO) site .pytest_cache
