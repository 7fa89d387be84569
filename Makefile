# The project's commands. `make test` and `make report` set everything up on a fresh machine.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# The grid `make report` runs: paper on a machine with CUDA; without, the best CPU grid its data allows
# (quick on CIFAR-10, else cifar10_jpeg on its JPEG copy, else fashion, else the digits demo; override: GRID=demo);
# DECIDE=45m|2h|N adds the seeds that decide the open claims as a second stage (CAP: seeds per cell at most);
# AGAINST=reports/<grid>|none: the committed study a rerun is checked against (default: reports/<grid> if it exists)
GRID    ?= auto
JOBS    ?= auto
WORKERS ?= 2

.PHONY: test test-all report demo lab clean-venv slurm-up slurm-down

$(STAMP): requirements.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . || \
		$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (alexlib)" >/dev/null
	touch $(STAMP)

# make test: the fast tier (not marked slow: a few minutes); make test-all: every test (.ci/run calls it).
# Both print the slowest tests, so a slow one shows itself. test-all runs on two workers (pytest-xdist), each
# module on one of them (its fixtures built once); most of its time is kernels starting and SLURM answering, which
# two workers overlap. WORKERS=0: in one process.
test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" --durations=10

test-all: $(STAMP)
	$(BIN)/python -m pytest $(if $(filter 0,$(WORKERS)),,-n $(WORKERS) --dist loadfile) --durations=25

report: $(STAMP)
	$(BIN)/python -m alexlib.pipeline --grid $(GRID) --jobs $(JOBS) $(if $(DRY_RUN),--dry-run) \
		$(if $(DECIDE),--decide $(DECIDE)) $(if $(CAP),--cap $(CAP)) $(if $(AGAINST),--against $(AGAINST))

demo: $(STAMP)
	$(BIN)/python -m alexlib.pipeline --grid demo --jobs $(JOBS)

# JupyterLab on the repository root (notebooks, params, runs, reports), as a user or as root
lab: $(STAMP)
	JUPYTER=$(BIN)/jupyter bash notebooks/lab.sh

# A single-node SLURM on this machine (Debian packages, as root) for the cluster tests and for trying
# `--executor slurm`; state, logs and pid files in /tmp/alexlib-slurm. `make test` never starts it.
slurm-up:
	bash cluster/slurm-up.sh

slurm-down:
	bash cluster/slurm-down.sh

clean-venv:
	rm -rf $(VENV)
