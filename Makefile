# dvdgan_tf: every entry point creates/reuses the local virtualenv first.
#   make demo   - train DVD-GAN on the built-in synthetic dataset (CPU, minutes)
#   make test   - lint/format check, then the test suite (what CI runs)
#   make fmt    - apply the formatter and the lint auto-fixes
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
# Which TensorFlow build the venv gets: cpu (default; CI) or gpu (the CUDA
# build of the same version). Each installs requirements/$(TF).lock, the
# exact versions tested, plus the test tools (requirements/dev.lock).
TF ?= cpu
ifeq ($(filter $(TF),cpu gpu),)
$(error TF=$(TF): choose cpu or gpu (TPU VMs: docs/INSTALL.md))
endif
OTHER_TF := $(if $(filter gpu,$(TF)),tensorflow-cpu,tensorflow)
STAMP := $(VENV)/.installed-$(TF)
DEMO_DIR ?= runs/demo
JUDGE_DIR ?= runs/judge
DATA_DIR ?= data/synthetic
PYTEST_ARGS ?=
# Test files run on this many pytest-xdist workers (one file per worker at a
# time, so module fixtures are built once). 2 matches the CI box; 0 = serial.
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadfile

export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED = 1

.PHONY: venv demo test lint fmt test-slow test-all mutation-check bench clean lock

venv: $(STAMP)

$(STAMP): requirements/$(TF).lock requirements/dev.lock requirements/nodeps.txt setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	rm -f $(VENV)/.installed-*
	$(PY) -m pip uninstall -q -y $(OTHER_TF) 2>/dev/null || true
	$(PY) -m pip install -q --disable-pip-version-check -r requirements/$(TF).lock -r requirements/dev.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements/nodeps.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Main job: write the synthetic TFRecords (resumable: finished shards are
# skipped), train the synthetic-data judge (once), train with
# gin/demo_cpu.gin, score the final EMA generator with the judge, write
# sample videos, and print where everything is and the accuracies reached.
# Re-running resumes from the last checkpoint.
demo: $(STAMP)
	$(PY) tools/make_tfrecords.py synthetic --output_dir=$(DATA_DIR)
	test -f $(JUDGE_DIR)/judge.json || \
	  $(PY) tools/train_judge.py --judge_dir=$(JUDGE_DIR) --gin_file=gin/demo_cpu.gin
	$(PY) -m dvdgan_tf.train --gin_file=gin/demo_cpu.gin \
	  --gin_param="training.run.model_dir='$(DEMO_DIR)'" \
	  --gin_param="DATA_DIR='$(DATA_DIR)'"
	$(PY) -m dvdgan_tf.evaluate --model_dir=$(DEMO_DIR) --metrics=judge \
	  --judge_dir=$(JUDGE_DIR)
	$(PY) -m dvdgan_tf.sample --model_dir=$(DEMO_DIR) --num=12 --output=$(DEMO_DIR)/samples
	@$(PY) tools/plot_results.py table --run=demo=$(DEMO_DIR)
	@echo "Samples (one MP4 + GIF per class, PNG grid): $(DEMO_DIR)/samples"
	@echo "TensorBoard: $(VENV)/bin/tensorboard --logdir $(DEMO_DIR)"

# Style (ruff, configured in pyproject.toml): `make fmt` fixes what `lint` finds.
# Then the package's dependency rules (import-linter contracts, pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Lint first, then the fast suite (excludes @pytest.mark.slow).
test: lint
	$(PY) -m pytest -m "not slow and not tpu" $(XDIST) $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(PY) -m pytest -m "slow" $(XDIST) $(PYTEST_ARGS)

test-all: $(STAMP)
	$(PY) -m pytest -m "not tpu" $(XDIST) $(PYTEST_ARGS)

# Deliberate bugs that the tests must catch (docs/DESIGN.md T3); 8-25 min.
mutation-check: $(STAMP)
	$(PY) tools/mutation_check.py

# Numbers, not tests (bench/README.md); run on a quiet machine.
bench: $(STAMP)
	$(PY) bench/train_step.py --gin_file=gin/bench_cpu.gin
	$(PY) bench/data_throughput.py
	$(PY) bench/sample_latency.py
	$(PY) bench/fvd_throughput.py

# Re-resolve requirements/*.lock from requirements/*.in (needs the index).
lock: $(STAMP)
	$(PY) tools/lock_requirements.py

clean:
	rm -rf $(VENV) .pytest_cache
