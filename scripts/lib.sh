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
    # Where a registry is reachable, a pulled debian:bookworm-slim is used as it is.
    docker image inspect debian:bookworm-slim >/dev/null 2>&1 && return
    command -v debootstrap >/dev/null || apt-get install -y debootstrap
    local rootfs; rootfs=$(mktemp -d /tmp/freshgate-rootfs.XXXX)
    debootstrap --variant=minbase bookworm "$rootfs"
    slim_rootfs "$rootfs"
    chmod 755 "$rootfs"  # mktemp -d made it 0700: as the image's / it would lock out every non-root user
    tar -C "$rootfs" -c . | docker import - debian:bookworm-slim
    rm -rf "$rootfs"
}

slim_rootfs() {
    # What Debian's own -slim images do: no package caches or lists in the image, and dpkg skips docs, man
    # pages and translations of every package installed later (a minbase rootfs is ~200 MB before, ~80 MB after).
    local r=$1
    rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/*.bin "$r"/var/lib/apt/lists/* \
        "$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/locale/* "$r"/var/log/*.log
    mkdir -p "$r"/etc/dpkg/dpkg.cfg.d "$r"/etc/apt/apt.conf.d
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
        'path-exclude /usr/share/lintian/*' > "$r"/etc/dpkg/dpkg.cfg.d/docker-slim
    printf '%s\n' 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };' \
        'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };' \
        'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";' > "$r"/etc/apt/apt.conf.d/docker-clean
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

# http_in CONTAINER METHOD URL [JSON] -> prints "STATUS BODY"; runs python inside the container (works with
# --network none). Sends `Authorization: Bearer $FG_KEY` when FG_KEY is set (auth is on by default).
http_in() {
    local ct=$1 method=$2 url=$3 body=${4:-}
    docker exec -e FG_KEY="${FG_KEY:-}" "$ct" python3 -c '
import os, sys, urllib.request, urllib.error
method, url, body = sys.argv[1], sys.argv[2], sys.argv[3]
headers = {"Content-Type": "application/json"}
if os.environ.get("FG_KEY"):
    headers["Authorization"] = "Bearer " + os.environ["FG_KEY"]
req = urllib.request.Request(url, method=method, data=body.encode() or None, headers=headers)
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

first_start_key() {  # container -> the operator key the server created at first start (on its volume)
    local ct=$1
    for _ in $(seq 1 30); do
        docker exec "$ct" sh -c 'cat "${FRESHGATE_AUTH__KEY_FILE:-.freshgate-key}"' 2>/dev/null && return 0; sleep 1
    done
    echo "no first-start key in $ct" >&2; return 1
}
