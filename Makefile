# Two entry points (see README): `make serve` and `make test`. Everything else is set-up they depend on.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SYSTEM_PACKAGES := ffmpeg sox libsox-fmt-all fluidsynth timgm6mb-soundfont fluid-soundfont-gm chromium chromium-driver \
	postgresql
DEFAULT_MODEL := saved_models/MSD_musicnn/1/saved_model.pb

.PHONY: serve test lint docker-test docker-root system-deps debian-music models bench clean

serve: $(VENV)/.installed $(DEFAULT_MODEL)
	$(PY) -m service

test: $(VENV)/.installed-test system-deps debian-music $(DEFAULT_MODEL) lint
	$(PY) -m pytest

# Formatting, lint and types (mypy is strict on the core, tagger/); part of `make test`.
lint: $(VENV)/.installed-test
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) -m mypy

# README's Docker deployment built and run on a real engine (tests/docker): installs docker.io and
# starts dockerd, so it needs root on Debian. CI runs it after `make test`.
docker-test: docker-root $(VENV)/.installed-test system-deps debian-music
	$(PY) -m pytest -m docker tests/docker

docker-root:
	@[ "$$(id -u)" = 0 ] || { echo "make docker-test: needs root (it installs Debian's docker.io and starts dockerd); run it as root" >&2; exit 1; }

# Debian packages the tests and the synthetic-data generator use (chromium: the page's browser tests);
# installed only when one is missing.
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Real recordings for the musicnn parity tests: a small GPL soundtrack package, unpacked into .cache (not installed).
debian-music:
	$(PYTHON) tests/support/debian_music.py >/dev/null

$(VENV)/.installed: pyproject.toml requirements.lock
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m pip install -q --no-deps musicnn==0.1.0
	touch $@

# Test-only packages (the Beam extra, Docker file checkers, Playwright) on top of the runtime set.
$(VENV)/.installed-test: $(VENV)/.installed requirements-test.lock
	$(PY) -m pip install -q -r requirements.lock -r requirements-test.lock
	touch $@

# The pretrained models are ported offline from the checkpoints inside the installed musicnn wheel.
models $(DEFAULT_MODEL): $(VENV)/.installed
	$(PY) -m training import-musicnn --output saved_models

bench: $(VENV)/.installed-test system-deps debian-music $(DEFAULT_MODEL)
	PYTHONPATH=tests $(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache
