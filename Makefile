# One command per job, identical on a laptop and in CI.
#   make demo  - create the virtual environment if needed, install, run the demo federation
#   make test  - install what the tests need, run lint, types, import layering and the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.fedward-installed
DEMO_OUT ?= runs/demo
# where torch comes from; on a Linux machine without a CPU-only mirror, make demo
# TORCH_INDEX=https://download.pytorch.org/whl/cpu keeps pip from pulling the CUDA build
TORCH_INDEX ?=
# OpenMP threads sleep instead of spinning: spinning made training 15x slower on a shared machine
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: demo test lint types layers bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch goes first, through the constraints file, so that no dependency can pull a CUDA build.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/fedward demo --out $(DEMO_OUT) --force

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

types: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

test: lint types layers
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
