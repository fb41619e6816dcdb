# Each target sets up what it needs: a fresh clone only needs python3 (3.10+).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch first, pinned to the CPU build: an unpinned install pulls a multi-GB CUDA build.
TORCH ?= torch==2.13.0
# The checkout goes on sys.path as a path entry, so that `import skl_sparse` finds the
# package even from the folder that holds a clone named skl_sparse (a finder-based
# editable install loses to that folder, which Python takes for a namespace package).
EDITABLE := --config-settings editable_mode=compat

.PHONY: demo test lint bench doc clean

# what the demo needs: torch, the package and matplotlib
$(VENV)/.base: pyproject.toml Makefile
	@echo "== Setting up $(VENV): $(TORCH) (CPU build), then skl_sparse and matplotlib =="
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install --progress-bar on $(TORCH)
	$(PY) -m pip install --progress-bar on $(EDITABLE) -e ".[plot]"
	touch $@

# the tests' and the docs' tools on top
$(VENV)/.installed: $(VENV)/.base
	@echo "== Adding the test and documentation tools to $(VENV) =="
	$(PY) -m pip install --progress-bar on $(EDITABLE) -e ".[plot,test,doc]"
	touch $@

demo: $(VENV)/.base
	$(PY) -m skl_sparse.experiments self-taught --output atoms.png

test: $(VENV)/.installed
	$(PY) -m ruff check .
	SCIPY_ARRAY_API=1 $(PY) -m pytest -n 2 -q
	$(MAKE) doc

bench: $(VENV)/.installed
	$(PY) -m pip install -q $(EDITABLE) -e ".[test,bench]"
	$(PY) benchmarks/run_all.py

doc: $(VENV)/.installed
	@echo "== Building the docs (runs the gallery's examples: 2-3 minutes on 2 cores) =="
	$(PY) -m sphinx -W --keep-going -b html doc doc/_build/html

clean:
	rm -rf $(VENV) doc/_build doc/auto_examples doc/generated
