# conv1d NCU workbench. `make setup` once, then `make test` or `make profile STAGE=memory`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(if $(wildcard $(VENV)/bin/python),$(VENV)/bin/python,python3)
WB := $(PY) -m workbench
STAGE ?= memory
PROBLEM ?=
BUDGET ?=
RUN ?= latest
ARGS ?=
HAS_CUDA := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo yes)

WORKERS ?=

.PHONY: setup test test-gpu check profile optimize report promote demo help
help:
	@echo "make setup | test | test-gpu | check | profile STAGE=memory [PROBLEM=kb76] [BUDGET=n] | optimize [PROBLEM=kb76] [WORKERS=n] | report [RUN=id] | promote [RUN=id] | demo"

# With a GPU the venv sees the machine's CUDA torch; without one it gets the CPU build.
setup:
	python3 -m venv $(if $(HAS_CUDA),--system-site-packages) $(VENV)
	$(if $(HAS_CUDA),,$(VENV)/bin/pip install -q torch==2.13.0)
	$(VENV)/bin/pip install -q -e '.[test]'
	@echo "set up in $(VENV); try: make test"

test:
	$(PY) -m pytest -q

test-gpu:
	$(PY) -m pytest -q -m gpu

check:
	$(WB) check --all $(ARGS)

profile:
	$(WB) profile --stage $(STAGE) $(if $(PROBLEM),--problem $(PROBLEM)) $(if $(BUDGET),--budget $(BUDGET)) $(ARGS)

optimize:
	$(WB) optimize $(if $(PROBLEM),--problem $(PROBLEM)) $(if $(WORKERS),--workers $(WORKERS)) $(ARGS)

report:
	$(WB) report $(RUN) $(ARGS)

promote:
	$(WB) promote $(RUN) $(ARGS)

demo:
	$(WB) demo $(ARGS)
