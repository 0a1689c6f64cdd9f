# Two entry points (see README): `make demo` runs the whole system, `make test` runs the whole test suite.
# Both install what they need, idempotently: Debian packages when missing, a virtual environment in .venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# fonts-wqy-zenhei: a CJK font, so the plate tests draw a real Chinese plate (京A88888), not only its latin part.
APT_PACKAGES := mosquitto mosquitto-clients postgresql debootstrap ca-certificates fonts-wqy-zenhei
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: demo test install system-packages lint stack-up stack-down clean

demo: install
	$(BIN)/cityops demo

test: install
	$(BIN)/python -m pytest

install: system-packages $(STAMP)

# Only runs apt-get when something is missing, so a machine that has everything is not touched.
system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $@

lint: install
	$(BIN)/ruff check .

stack-up: install
	$(BIN)/cityops stack up

stack-down:
	$(BIN)/cityops stack down

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
