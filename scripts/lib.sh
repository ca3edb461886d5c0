# Shared by scripts/container-test and scripts/compose-test: a Docker daemon, a local base image, the build.
# Verified on machines where only PyPI, Debian's mirror and npm are reachable (no image registry).

ensure_docker() {
    if docker info >/dev/null 2>&1; then return; fi
    command -v dockerd >/dev/null || apt-get install -y docker.io debootstrap
    echo "starting dockerd (vfs storage driver)" >&2
    nohup dockerd --storage-driver=vfs >/tmp/freshgate-dockerd.log 2>&1 &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && return; sleep 1; done
    echo "dockerd did not start; see /tmp/freshgate-dockerd.log" >&2; exit 1
}

ensure_base_image() {
    # No registry here: debootstrap Debian bookworm (python3 is 3.11) and import it as the base image.
    docker image inspect debian:bookworm-slim >/dev/null 2>&1 && return
    command -v debootstrap >/dev/null || apt-get install -y debootstrap
    local rootfs; rootfs=$(mktemp -d /tmp/freshgate-rootfs.XXXX)
    debootstrap --variant=minbase bookworm "$rootfs"
    tar -C "$rootfs" -c . | docker import - debian:bookworm-slim
    rm -rf "$rootfs"
}

prepare_context() {
    # Offline torch: a wheel directory (TORCH_WHEEL_DIR, else pip's find-links) is copied into docker/wheels
    # and the PyTorch index is not used. Extra CA certificates (a TLS-intercepting proxy) go to docker/ca.
    local dir="${TORCH_WHEEL_DIR:-$(pip config get global.find-links 2>/dev/null || true)}"
    BUILD_ARGS=()
    if [ -n "$dir" ] && ls "$dir"/torch-*.whl >/dev/null 2>&1; then
        cp -u "$dir"/torch-*.whl docker/wheels/
        BUILD_ARGS+=(--build-arg TORCH_INDEX_URL=)
        echo "torch from local wheels in $dir" >&2
    fi
    if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
        cp -u /usr/local/share/ca-certificates/*.crt docker/ca/
    fi
}

build_image() {
    local image=$1 t0; t0=$(date +%s)
    docker build -t "$image" "${BUILD_ARGS[@]}" . >&2
    echo "built $image in $(( $(date +%s) - t0 )) s; size $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')" >&2
}

# http METHOD URL [JSON] -> prints "STATUS BODY"; runs python inside container $CT (works with --network none).
http_in() {
    local ct=$1 method=$2 url=$3 body=${4:-}
    docker exec "$ct" python3 -c '
import sys, urllib.request, urllib.error
method, url, body = sys.argv[1], sys.argv[2], sys.argv[3]
req = urllib.request.Request(url, method=method, data=body.encode() or None, headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=30) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
' "$method" "$url" "$body"
}

wait_ready() {  # container url timeout_s -> seconds it took
    local ct=$1 url=$2 limit=$3 t0; t0=$(date +%s)
    while true; do
        if [ "$(http_in "$ct" GET "$url" 2>/dev/null | cut -d' ' -f1)" = "200" ]; then
            echo $(( $(date +%s) - t0 )); return 0
        fi
        if [ $(( $(date +%s) - t0 )) -gt "$limit" ]; then
            echo "not ready after ${limit}s: $(http_in "$ct" GET "$url" 2>&1 | head -c 400)" >&2
            docker logs --tail 30 "$ct" >&2 || true
            return 1
        fi
        sleep 2
    done
}

json_get() {  # read JSON on stdin, print the python expression $1 of it (as `d`)
    python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}
