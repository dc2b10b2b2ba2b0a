# modeldeploy: every install step lives here (and in tools/), so a fresh machine needs only `make up`
# or `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
N ?= 100
COUNTS ?= 100,1000,5000

CHECKOV_VENV ?= .venv-checkov

.PHONY: help venv tools image lint unit test up bench bench-curve sync-crds clean

help:
	@echo "make up      - build the local control plane (cached), start it with the operator and samples"
	@echo "make test    - lint, type-check, unit and integration tests on a real local control plane"
	@echo "make bench   - benchmark the operator against direct server-side apply (N=$(N))"
	@echo "make bench-curve - the same for each N in COUNTS=$(COUNTS), and the scale curve"
	@echo "make lint    - ruff and mypy only"
	@echo "make image   - build the operator image with buildah (cached; installs buildah/debootstrap if missing)"

venv: $(VENV)/.installed $(CHECKOV_VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.txt requirements-dev.txt requirements-tfserving.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt -r requirements-dev.txt
	# Only the protos of tensorflow-serving-api are used; its dependencies would pull in TensorFlow.
	$(BIN)/pip install -q --no-deps -r requirements-tfserving.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

# checkov gets a virtualenv of its own: it pins packaging 23.x and python-dateutil 2.x, which the
# operator's and the test tools' pins do not allow.
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/pip install -q -r requirements-checkov.txt
	touch $@

tools:
	tools/build.sh >/dev/null

image:
	tools/image.sh build >/dev/null

lint: venv
	$(BIN)/ruff check operator tests
	$(BIN)/ruff format --check operator tests
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -q tests/unit $(PYTEST_ARGS)

# The optional tools the tests build on first use (Prometheus with promtool, metrics-server, KEDA: most of a
# cold run's build time after the control plane) start building at once, in the background and at low
# priority, so that they overlap the image build, lint and the tests that do not need them. A test that needs
# one before it is done waits for it on tools/build.sh's lock; on a warm cache this is a no-op.
test: venv tools
	nice -n 10 tools/build.sh prometheus metrics-server keda >/dev/null 2>&1 &
	$(MAKE) image lint
	$(BIN)/pytest -q $(PYTEST_ARGS)

up: venv tools
	$(BIN)/modeldeploy up

bench: venv tools
	$(BIN)/modeldeploy bench --count $(N) --output bench-results/bench-$(N).json

bench-curve: venv tools
	$(BIN)/modeldeploy bench --counts $(COUNTS) --output bench-results/scale-curve.json

sync-crds:
	cp crds/*.yaml helm/modeldeploy/crds/
	cp crds/*.yaml manifests/crd/

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .mypy_cache .ruff_cache bench-results
