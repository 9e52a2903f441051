# The two commands a reader needs: `make serve` and `make test`. Both create the
# virtual environment and install everything on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export MPLBACKEND := Agg
export NO_MKDOCS_2_WARNING := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

LINTED := lora_ref snippets tests conftest.py hooks
# where pip finds torch (empty: your pip's default index); see README
TORCH_INDEX ?=

.PHONY: install serve build test test-fast lint figures bench experiments compare tutorial clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, pinned. On Linux, PyPI's torch is the multi-GB CUDA build:
	# TORCH_INDEX=https://download.pytorch.org/whl/cpu gets the CPU build instead.
	$(BIN)/python -m pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -q -e ".[dev]"
	# the pages' code imports `snippets` (figure, experiment and tutorial
	# scripts with their committed data) from any directory: put this clone on
	# the venv's path (a .pth file), without shipping snippets in the package
	$(BIN)/python -c "import pathlib, site; pathlib.Path(site.getsitepackages()[0], 'peft_handbook_clone.pth').write_text(str(pathlib.Path.cwd()) + chr(10))"
	touch $(STAMP)

install: $(STAMP)

serve: install
	$(BIN)/mkdocs serve -a 127.0.0.1:8000

build: install
	$(BIN)/mkdocs build --strict

lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

test: install lint
	@command -v chromium >/dev/null 2>&1 || { \
	  echo; echo "!!! chromium not found: the browser test will be SKIPPED."; \
	  echo "!!! Install Debian's chromium package (apt-get install chromium) to run it."; echo; }
	# two workers (one per core), each file on one worker so `cont` chains and
	# module fixtures stay together; one BLAS thread each, so they don't fight
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile --codeblocks docs tests && FENCES_IN_EMPTY_DIR=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile --codeblocks docs

# the quick loop while you edit lora_ref: tests/ without the ones marked slow
# (site build, browser, training, scripts) and without the docs fences
test-fast: install
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow" tests

# every figure script, run as a module: python -m snippets.figures.fig_<name>
figures: install
	for f in snippets/figures/fig_*.py; do m=$$(basename "$$f" .py); \
	  echo "snippets.figures.$$m"; $(BIN)/python -m "snippets.figures.$$m" || exit 1; done

# every snippets/bench_*.py, each printing its ratios from one side-by-side run
bench: install
	for f in snippets/bench_*.py; do m=$$(basename "$$f" .py); \
	  echo "== snippets.$$m"; $(BIN)/python -m "snippets.$$m" --save || exit 1; done

# the full experiment kit behind the Experiments chapters (102 runs: 733 s, about
# 12 min, measured with two workers on 2 cores; see run_all.py and timing.csv)
experiments: install
	$(BIN)/python -m snippets.experiments.run_all

# every PEFT method on the kit's task, side by side (198 runs: 1,636 s, about
# 27 min, measured with two workers on 2 cores; budget 30 min; see compare.py)
compare: install
	$(BIN)/python -m snippets.experiments.compare

# rebuild the tutorial's data, tokenizer and small base model, and execute the notebook
tutorial: install
	$(BIN)/python -m snippets.tutorial.build_all

clean:
	rm -rf site .pytest_cache .ruff_cache
