# Two entry points (see README): `make demo` runs the whole system, `make test` runs the whole test suite.
# Both install what they need, idempotently: Debian packages when missing, a virtual environment in .venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# fonts-wqy-zenhei: a CJK font, so the plate tests draw a real Chinese plate (京A88888), not only its latin part.
APT_PACKAGES := mosquitto mosquitto-clients postgresql debootstrap ca-certificates fonts-wqy-zenhei
# chromium: the browser tests drive Debian's Chromium with Playwright (no browser download); docker-compose (v1)
# renders deploy/cloud/compose.yaml in CI (no engine needed).
TEST_APT_PACKAGES := chromium docker-compose
# The lock files (deploy/requirements/*.txt, from `make lock`): the venv installs the dev lock's versions, the images
# the hub and edge locks', so tests run what ships.
LOCK := deploy/requirements
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK)/dev.txt | sha256sum | cut -c1-12)
# The web apps (dashboards/web): npm packages from the lock file, then one Vite build the hub serves.
WEB := dashboards/web
WEB_MODULES := $(WEB)/node_modules/.installed
WEB_BUILT := $(WEB)/dist/.built
WEB_SOURCES := $(shell find $(WEB)/src $(WEB)/public $(WEB)/scripts $(WEB)/command $(WEB)/officer $(WEB)/technician $(WEB)/admin \
	$(WEB)/index.html $(WEB)/vite.config.ts $(WEB)/tsconfig.json $(WEB)/package.json -type f 2>/dev/null)

# The model chain's training venv (Ultralytics, torch): separate from .venv so the edge and hub installs, and the
# main suite, never carry torch. tests/models runs the chain in it. No lock file of its own: torch's CUDA wheels
# come from this machine's local wheel folder through pip (uv does not resolve them offline), so it is installed
# with the dev lock as constraints (shared packages such as numpy, onnx and onnxruntime match .venv) and the
# exact torch/torchvision pins of the `training` extra.
TRAIN_VENV := .venv-train
TRAIN_STAMP := $(TRAIN_VENV)/.installed-$(shell cat pyproject.toml $(LOCK)/dev.txt | sha256sum | cut -c1-12)

.PHONY: demo test install system-packages test-packages train-venv web lint lock stack-up stack-down clean

demo: install
	$(BIN)/cityops demo

# Lint first: a style slip fails in seconds, not after the 13-minute suite.
test: install test-packages train-venv lint
	$(BIN)/python -m pytest

install: system-packages $(STAMP) web

# Only runs apt-get when something is missing, so a machine that has everything is not touched. Node.js comes
# from Debian (18) only when no `node` is installed at all; the web tool versions are chosen to run on 18.18+.
system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	$(call apt_install,$$missing)
	@node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>18||(a==18&&b>=18)?0:1)' || \
		{ echo "Node.js $$(node --version) is too old for the web apps: 18.18 or newer is needed" >&2; exit 1; }

test-packages:
	@missing=""; for p in $(TEST_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(call apt_install,$$missing)

# apt_install(packages): install them as root or with sudo, when the list is not empty.
define apt_install
if [ -n "$(1)" ]; then \
		echo "installing Debian packages:$(1)"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(1); \
	fi
endef

# The web apps, rebuilt when a source or the lock file changes; `npm ci` installs exactly the locked versions.
web: $(WEB_BUILT)

$(WEB_MODULES): $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(WEB_BUILT): $(WEB_MODULES) $(WEB_SOURCES)
	cd $(WEB) && npm run build --silent
	@touch $@

$(STAMP): pyproject.toml $(LOCK)/dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]' -c $(LOCK)/dev.txt
	@rm -f $(VENV)/.installed-*; touch $@

train-venv: $(TRAIN_STAMP)

$(TRAIN_STAMP): pyproject.toml $(LOCK)/dev.txt
	@test -x $(TRAIN_VENV)/bin/python || $(PYTHON) -m venv $(TRAIN_VENV)
	$(TRAIN_VENV)/bin/python -m pip install -q --disable-pip-version-check -e '.[training,edge]' -c $(LOCK)/dev.txt
	@rm -f $(TRAIN_VENV)/.installed-*; touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Re-resolve the lock files after a change to pyproject.toml (versions already locked are kept; add --upgrade to
# UV_FLAGS to take newer releases). One resolution for every platform and Python >= 3.11 (--universal).
UV_FLAGS ?=
lock: install
	$(call uv_lock,hub,--extra hub)
	$(call uv_lock,edge,--extra edge --extra plates)
	$(call uv_lock,dev,--extra dev)

define uv_lock
$(BIN)/uv pip compile -q pyproject.toml $(2) --universal --python-version 3.11 --no-header --annotation-style line \
		$(UV_FLAGS) -o $(LOCK)/$(1).txt
endef

stack-up: install
	$(BIN)/cityops stack up

stack-down:
	$(BIN)/cityops stack down

clean:
	rm -rf $(VENV) $(TRAIN_VENV) .pytest_cache .ruff_cache $(WEB)/node_modules $(WEB)/dist
