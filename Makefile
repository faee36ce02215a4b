# Two entry points for a fresh clone: `make demo` and `make test`.
# Both create .venv if missing and install the project with the pinned constraints.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.seqtutor-installed
PIP_FLAGS := --disable-pip-version-check -q

.PHONY: install system-deps demo test docs bench clean

# Debian/Ubuntu packages for instrument audio (FluidSynth + a General MIDI soundfont) and the report
# page's browser test (headless Chromium). Installed when root and missing; otherwise a note, and the
# project falls back (sine-tone audio) or skips (the browser test) with a message naming them.
SYSTEM_PACKAGES := fluidsynth fluid-soundfont-gm chromium

$(PY):
	$(PYTHON) -m venv $(VENV)

# The sweep extra (Ray Tune) too: the tests run a two-trial sweep on Ray; torchrl: a TorchRL collector loop;
# docs: the tests build the manual (mkdocs build --strict) and execute its tutorials.
$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install $(PIP_FLAGS) -c constraints.txt -e '.[dev,sweep,zoo,torchrl,docs]'
	touch $(STAMP)

install: $(STAMP) system-deps

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing system packages:$$missing"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null) \
	    || echo "warning: could not install$$missing (audio falls back to sine tones; the browser test is skipped)"; \
	else \
	  echo "note: not root or no apt-get; install$$missing for instrument audio and the browser test"; \
	fi

demo: install
	$(VENV)/bin/seqtutor demo --out runs/demo

# Lint, format and type checks first (settings in pyproject.toml; .pre-commit-config.yaml runs the same), then the
# suite on every core (pytest-xdist; setup.cfg says how the tests are shared out and why), one torch thread per worker.
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -n auto --dist loadgroup

# The manual, into site/ (docs/, mkdocs.yml; the tutorials rendered with their outputs).
docs: install
	NO_MKDOCS_2_WARNING=1 SEQTUTOR_DOCS_EXECUTE=true $(VENV)/bin/mkdocs build --strict --site-dir site

bench: install
	$(PY) -m benchmarks.throughput

clean:
	rm -rf runs site build dist *.egg-info .pytest_cache
