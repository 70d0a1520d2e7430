#!/usr/bin/env bash
# Build the sdist and wheel, check them as PyPI would, and smoke-test the wheel as a user gets it.
#
# Usage: scripts/ci_wheel.sh   (.ci/run calls it after `make test`)
#
# - `make dist`: `python -m build` makes dist/*.tar.gz and dist/*.whl; `twine check --strict` checks
#   their metadata and that the README renders on PyPI.
# - The wheel is installed into a new venv in a temporary folder outside the checkout (no editable
#   install, nothing of the repo on sys.path; commands run from that folder). There it must report its
#   version, score examples/ with the bundled default model, and, installed with [serve], start
#   `photoscore serve` and answer /healthz and /readyz on 127.0.0.1.
#
# Environment: PYTHON (the clean venv's interpreter, default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PYTHON=${PYTHON:-python3}
started=$SECONDS
say() { echo "ci_wheel [$((SECONDS - started)) s]: $*" >&2; }

log=$(mktemp)
make dist >"$log" 2>&1 || {
    cat "$log" >&2
    exit 1
}
grep -E '^Checking' "$log"
rm -f "$log"
wheel=$(echo "$REPO"/dist/photoscore-*.whl)
say "built $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB) and the sdist"

work=$(mktemp -d)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
"$PYTHON" -m venv venv
venv/bin/python -m pip install --quiet "$wheel"
say "installed the wheel into a clean venv ($(du -sm venv | cut -f1) MB)"

version=$(basename "$wheel" | cut -d- -f2)
[ "$(venv/bin/photoscore --version)" = "photoscore $version" ] || {
    say "photoscore --version says '$(venv/bin/photoscore --version)', the wheel is $version"
    exit 1
}
venv/bin/photoscore score "$REPO/examples" --json >scores.json 2>score.err
venv/bin/python - "$work/venv" scores.json score.err <<'EOF'
import json
import sys
from pathlib import Path

import photoscore

venv, scores, stderr = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]).read_text()
assert Path(photoscore.__file__).resolve().is_relative_to(venv.resolve()), photoscore.__file__
records = json.loads(scores.read_text())
assert len(records) == 6 and all(r["error"] is None for r in records), records
assert all(1 <= r["mean_score_prediction"] <= 10 for r in records), records
assert "Using the bundled default model" in stderr, stderr
EOF
say "the installed wheel scored examples/ with its bundled model"

venv/bin/python -m pip install --quiet "$wheel[serve]"
port=$(venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
venv/bin/photoscore serve --host 127.0.0.1 --port "$port" >serve.log 2>&1 &
server_pid=$!
venv/bin/python - "$port" "$version" <<'EOF'
import json
import sys
import time
import urllib.error
import urllib.request

port, version = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 60
while True:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
            ready = json.load(answer)
        break
    except (urllib.error.URLError, ConnectionError):
        if time.monotonic() > deadline:
            raise SystemExit("photoscore serve was not ready within 60 s") from None
        time.sleep(0.5)
assert ready["status"] == "ready", ready
with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
    assert json.load(answer) == {"status": "ok", "version": version}
EOF
say "the wheel with [serve] answered /readyz and /healthz"
