# Two commands matter: `make run` (gateway + simulator + Redis, locally) and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: install run test model lint typecheck containers manifests rules docs check bench clean

$(BIN)/.installed: pyproject.toml deploy/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --constraint deploy/constraints.txt -e '.[dev]'
	touch $@

install: $(BIN)/.installed

run: install
	bash scripts/run-local.sh

test: install
	bash scripts/ensure-redis-server.sh
	bash scripts/ensure-chromium.sh
	$(BIN)/pytest

# The models of the books (tests/model/: on one Redis, and on a Sentinel set that fails over),
# each exploring new random runs for MODEL_SECONDS, then saying how much they explored.
model: install
	bash scripts/ensure-redis-server.sh
	MODEL_SECONDS=$${MODEL_SECONDS:-600} $(BIN)/pytest -q -s -p no:randomly tests/model/

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

containers: install
	$(BIN)/hadolint Dockerfile
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

# Kubernetes manifests against the API's own schemas (bundled: no cluster, no network), strictly;
# the Operator's resources and the kustomizations are checked by tests/unit/test_deploy.py.
manifests: install
	$(BIN)/kubernetes-validate --strict --quiet -k 1.31.0 $(filter-out %kustomization.yaml,$(wildcard deploy/k8s/*.yaml))

rules:
	promtool check rules deploy/prometheus/rules.yaml
	cd deploy/prometheus && promtool test rules rules.test.yaml

# The documentation site (docs/, mkdocs.yml) into site/: strict, so a broken internal link or
# anchor fails it; offline, nothing is fetched.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

check: lint typecheck containers manifests rules docs test

bench: install
	$(BIN)/python -m bench.load --seconds 15 --rounds 5 --concurrency 32 1 --upstream static

clean:
	rm -rf $(VENV) .run .mypy_cache .ruff_cache .pytest_cache
