#!/bin/sh
# Slim a finished virtualenv for the runtime image: no installer, no test suites, no C headers or build files.
# Compiled bytecode (*.pyc) is kept: the runtime user cannot write it, and start-up would recompile every time.
set -eu
venv=$1
"$venv/bin/pip" uninstall -y -q pip setuptools wheel >/dev/null 2>&1 || true
site=$(echo "$venv"/lib/python3*/site-packages)
before=$(du -sm "$venv" | cut -f1)
# Test suites shipped inside wheels (numpy, psycopg, ...): never imported at run time.
find "$site" -depth -type d \( -name tests -o -name __tests__ \) -prune -exec rm -rf {} +
# C/C++ headers, Cython sources and static libraries are for building extensions, not running them.
find "$site" \( -name '*.h' -o -name '*.hpp' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.a' -o -name '*.c' \
    -o -name '*.cpp' \) -type f -delete
find "$site" -type d \( -name include -path '*/numpy/*' \) -prune -exec rm -rf {} +
# ONNX Runtime's offline tools (quantization, transformer optimizers: they import torch/onnx) are not used.
rm -rf "$site/onnxruntime/tools" "$site/onnxruntime/transformers" "$site/onnxruntime/quantization"
# Debug symbols of our own compiled extensions (hnswlib is built here, without stripping).
if command -v strip >/dev/null; then
    find "$site" -maxdepth 1 -name '*.so' -type f -exec strip --strip-unneeded {} +
fi
rm -rf "$venv/share" "$venv/include"
echo "slim-venv: $venv ${before} MB -> $(du -sm "$venv" | cut -f1) MB" >&2
