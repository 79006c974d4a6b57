# Two entry points (see README): `make pipeline` and `make test`. Both create .venv first.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DO_NOT_TRACK := 1
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install pipeline test flow serve stop clean

$(BIN)/esans: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# torch first, pinned to the CPU build: an unpinned resolve would fetch the CUDA build.
	$(BIN)/pip install --quiet "torch==$(TORCH_VERSION)"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(BIN)/esans

install: $(BIN)/esans

.dvc/config: | install
	$(BIN)/dvc init --quiet
	$(BIN)/dvc config core.analytics false

## Full pipeline on params.yaml (default: the embedded synthetic data), then the promotion
## gate (the first model becomes the champion that `esans recommend` serves); prints metrics.
pipeline: install .dvc/config
	$(BIN)/dvc repro
	$(BIN)/esans promote
	$(BIN)/dvc metrics show metrics.json

## The whole pipeline as a Prefect flow on the ephemeral API.
flow: install .dvc/config
	$(BIN)/python -m flows.retrain

## Prefect server + process work pool + worker + `prefect deploy --all` (nightly at 02:00 UTC);
## logs in .prefect/logs/. `scripts/prefect.sh run -p sampler=uniform` starts a run now.
serve: install .dvc/config
	bash scripts/prefect.sh start

stop:
	bash scripts/prefect.sh stop

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf data/ingest data/split data/encode data/behaviour data/fuse data/cluster models \
	       data/index reports metrics.json dvc.lock
