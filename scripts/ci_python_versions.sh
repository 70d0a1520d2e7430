#!/usr/bin/env bash
# The scoring core's tests on every other supported Python (3.12 and 3.13; `make test` covers 3.11).
#
# Usage: scripts/ci_python_versions.sh [VERSION ...]   (default: 3.12 3.13)
#
# For each version: a new venv in a temporary folder with photoscore installed from the checkout (not
# editable, so the tests import the installed package) with the `test` and `eval` extras only, then
# pytest. Tests that need torch, Ray, FastAPI or Playwright skip (pytest.importorskip); training stays
# on the tested torch pin and Python 3.11. The interpreter is python3.X on PATH, else pyenv's; where
# neither exists the version is reported as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
say() { echo "ci_python_versions [$((SECONDS - started)) s]: $*" >&2; }

find_python() {
    local version=$1 candidate
    if command -v "python$version" >/dev/null 2>&1 && "python$version" -c '' 2>/dev/null; then
        command -v "python$version"
        return
    fi
    for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python"$version"; do
        if [ -x "$candidate" ]; then
            echo "$candidate"
            return
        fi
    done
}

versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(3.12 3.13)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for v in "${versions[@]}"; do
    python=$(find_python "$v")
    if [ -z "$python" ]; then
        say "SKIPPED Python $v: no python$v on PATH or in pyenv"
        continue
    fi
    "$python" -m venv "$work/$v"
    "$work/$v/bin/python" -m pip install --quiet '.[test,eval]'
    say "Python $v ($("$work/$v/bin/python" -V)): installed the core with [test,eval] ($(du -sm "$work/$v" | cut -f1) MB)"
    "$work/$v/bin/python" -m pytest -q -p no:cacheprovider
    say "Python $v: tests passed"
done
