# Two commands for a newcomer:  `make demo` (set up + main job)  and  `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
DATA   ?= ../shared/data
OUT    ?= runs/demo
STAMP  := $(VENV)/.vestis-installed

.PHONY: setup demo test lint bench clean

# torch 2.13.0 (CPU build) goes in first: a bare `torch` requirement would pull the CUDA wheels.
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[lite,train,onnx,scale,dev]"
	touch $@

setup: $(STAMP)

demo: setup
	VESTIS_DATA=$(DATA) OUT=$(OUT) PY=$(PY) bash scripts/demo.sh

test: setup
	$(PY) -m pytest -q -p no:cacheprovider

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf runs build dist .pytest_cache .ruff_cache
