#!/usr/bin/env bash
# Build the scoring image with a private Docker daemon and run tests/test_image.py against it.
#
# Usage: scripts/ci_image.sh   (as root; .ci/run calls it after `make test`, so .venv exists)
#
# - Installs Debian's docker.io and debootstrap when missing.
# - Starts its own dockerd (own socket, data root and exec root) that leaves the host's network alone:
#   no iptables, no IP forwarding, no bridge. Builds therefore use --network host; containers run with
#   --network none or host. The daemon is stopped by its PID on exit.
# - No registry is reachable, so the base image is made offline: debootstrap (bookworm, from the Debian
#   mirror apt already uses) + docker import, tagged $BASE_TAG. The data root is kept between runs, so
#   a later run finds the base (and BuildKit's cache) and skips this.
# - Where the daemon cannot run here (no privileges, no overlay filesystem), it says why the image tests
#   were skipped and exits 0: the rest of CI stays meaningful.
#
# Environment: PHOTOSCORE_DOCKER_ROOT (data root, default /var/lib/photoscore-docker),
# PHOTOSCORE_DEBIAN_MIRROR (default: apt's), PHOTOSCORE_IMAGE_TAG (default photoscore:ci).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

DATA_ROOT=${PHOTOSCORE_DOCKER_ROOT:-/var/lib/photoscore-docker}
EXEC_ROOT=/run/photoscore-docker
SOCKET=/run/photoscore-docker.sock
PIDFILE=/run/photoscore-docker.pid
LOG=${TMPDIR:-/tmp}/photoscore-dockerd.log
BASE_TAG=photoscore-base:bookworm
IMAGE=${PHOTOSCORE_IMAGE_TAG:-photoscore:ci}
# Debian's CLI (20.10) builds with BuildKit by itself; a newer CLI without buildx cannot.
DOCKER=/usr/bin/docker
export DOCKER_HOST=unix://$SOCKET

say() { echo "ci_image [$((SECONDS - started)) s]: $*" >&2; }
skip() {
    say "SKIPPED the image tests: $*"
    exit 0
}

install_tools() {
    local missing=()
    [ -x /usr/sbin/dockerd ] && [ -x "$DOCKER" ] || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    local log=${TMPDIR:-/tmp}/photoscore-apt.log
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get install -y -qq \
        --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
        tail -n 5 "$log" >&2
        skip "apt-get could not install ${missing[*]} (log: $log)"
    fi
}

dockerd_pid=""
stop_dockerd() {
    [ -n "$dockerd_pid" ] || return 0
    say "stopping dockerd (PID $dockerd_pid)"
    kill -TERM "$dockerd_pid" 2>/dev/null || return 0
    for _ in $(seq 60); do
        kill -0 "$dockerd_pid" 2>/dev/null || return 0
        sleep 0.5
    done
    say "dockerd did not stop in 30 s; killing it"
    kill -KILL "$dockerd_pid" 2>/dev/null || true
}

start_dockerd() {
    [ "$(id -u)" -eq 0 ] || skip "dockerd needs root (running as $(id -un))"
    if "$DOCKER" info >/dev/null 2>&1; then
        skip "a dockerd this script did not start already serves $SOCKET (PID $(cat "$PIDFILE" 2>/dev/null))"
    fi
    mkdir -p "$DATA_ROOT"
    /usr/sbin/dockerd --data-root "$DATA_ROOT" --exec-root "$EXEC_ROOT" --pidfile "$PIDFILE" \
        --host "$DOCKER_HOST" --iptables=false --ip-forward=false --bridge=none >"$LOG" 2>&1 &
    dockerd_pid=$!
    trap stop_dockerd EXIT
    for _ in $(seq 60); do
        if ! kill -0 "$dockerd_pid" 2>/dev/null; then
            tail -n 5 "$LOG" >&2
            skip "dockerd exited at start (see above; full log: $LOG)"
        fi
        "$DOCKER" info >/dev/null 2>&1 && break
        sleep 0.5
    done
    "$DOCKER" info >/dev/null 2>&1 || skip "dockerd did not answer within 30 s (log: $LOG)"
    local driver
    driver=$("$DOCKER" info --format '{{.Driver}}')
    [ "$driver" = overlay2 ] || skip "no overlay filesystem for dockerd (storage driver: $driver)"
    say "dockerd $("$DOCKER" version --format '{{.Server.Version}}') up (PID $dockerd_pid, $driver)"
}

# The Debian mirror apt already uses (the first plain .../debian source), or deb.debian.org.
debian_mirror() {
    if [ -n "${PHOTOSCORE_DEBIAN_MIRROR:-}" ]; then
        echo "$PHOTOSCORE_DEBIAN_MIRROR"
        return
    fi
    local found
    found=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
        2>/dev/null | grep -v '^\s*#' | grep -oE 'https?://[^ ]+' | grep -E '/debian/?$' | head -n 1 || true)
    echo "${found:-http://deb.debian.org/debian}"
}

make_base_image() {
    if "$DOCKER" image inspect "$BASE_TAG" >/dev/null 2>&1; then
        say "base image $BASE_TAG kept from an earlier run"
        return
    fi
    local mirror root
    mirror=$(debian_mirror)
    root=$(mktemp -d /var/tmp/photoscore-base.XXXXXX)
    say "making $BASE_TAG with debootstrap from $mirror"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" \
        "$mirror" >"$root.log" 2>&1 || {
        tail -n 20 "$root.log" >&2
        rm -rf "$root"
        say "debootstrap failed"
        exit 1
    }
    # What an image never needs: package caches and lists, documentation, translations.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
        "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
    tar -C "$root" -c . | "$DOCKER" import - "$BASE_TAG" >/dev/null
    rm -rf "$root" "$root.log"
}

build_image() {
    # The system CA bundle holds a TLS-intercepting proxy's CA where there is one.
    local ca=/etc/ssl/certs/ca-certificates.crt
    [ -s "$ca" ] || ca=""
    say "building $IMAGE"
    make --no-print-directory image DOCKER="$DOCKER" IMAGE="$IMAGE" PIPCERT="$ca" \
        IMAGE_BUILD_ARGS="--network host --build-arg BASE=$BASE_TAG"
    # Keep the kept data root from growing run after run: containers a failed run left, old untagged
    # images, a bounded build cache.
    "$DOCKER" container prune -f >/dev/null
    "$DOCKER" image prune -f >/dev/null
    "$DOCKER" builder prune -f --keep-storage 3gb >/dev/null
    say "image $IMAGE: $(("$("$DOCKER" image inspect --format '{{.Size}}' "$IMAGE")" / 1000000)) MB"
}

install_tools
start_dockerd
make_base_image
build_image
PHOTOSCORE_IMAGE=$IMAGE PHOTOSCORE_DOCKER=$DOCKER .venv/bin/python -m pytest -q -p no:cacheprovider \
    tests/test_image.py
say "done in $((SECONDS - started)) s"
