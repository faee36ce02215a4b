# Two entry points for a fresh clone: `make demo` and `make test`.
# Both create .venv if missing and install the project with the pinned constraints.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.seqtutor-installed
PIP_FLAGS := --disable-pip-version-check -q

.PHONY: install demo test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# The sweep extra (Ray Tune) too: the tests run a two-trial sweep on Ray.
$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install $(PIP_FLAGS) -c constraints.txt -e '.[dev,sweep,zoo]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/seqtutor demo --out runs/demo

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) -m benchmarks.throughput

clean:
	rm -rf runs build dist *.egg-info .pytest_cache
