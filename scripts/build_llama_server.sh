#!/usr/bin/env bash
# Build llama.cpp's OpenAI-compatible server (llama-server) for this CPU, once, from the llama.cpp source
# vendored in the llama-cpp-python sdist on PyPI (pinned), so a fresh machine needs only PyPI, cmake and
# a C++ compiler. About 5 minutes on 2 cores; later runs find the binary and return at once.
# Prints the binary's path on the last line. Override the folder with SURROGATE_LLAMA_DIR.
set -euo pipefail
VERSION="0.3.36"  # llama-cpp-python release whose vendor/llama.cpp is built (llama.cpp commit 0c1e570)
DIR="${SURROGATE_LLAMA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/surrogate/llama-server-$VERSION}"
BIN="$DIR/llama-server"
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
command -v cmake >/dev/null || { echo "cmake is needed to build llama-server (apt-get install cmake)" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$WORK" >&2
tar -xzf "$WORK/llama_cpp_python-$VERSION.tar.gz" -C "$WORK"
SRC="$WORK/llama_cpp_python-$VERSION/vendor/llama.cpp"
# Built for this CPU (GGML_NATIVE=ON: its SIMD units); the binary stays on the machine that built it.
cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=ON >&2
cmake --build "$WORK/build" --target llama-server -j "$(nproc)" >&2
mkdir -p "$DIR"
cp "$WORK/build/bin/llama-server" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
echo "$BIN"
