"""A short, bounded run of scripts/load_test.py: concurrent clients on loopback get no 5xx."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

import subprocess
import sys

from server_helpers import REPO

from conftest import write_colour_model


def test_short_load_has_no_server_errors(tmp_path, photo_dir):
    model = write_colour_model(tmp_path / "colour.onnx")
    command = [
        sys.executable,
        str(REPO / "scripts" / "load_test.py"),
        f"--model={model}",
        f"--photos={photo_dir}",
    ]
    command += [
        "--clients=10",
        "--duration=3",
        "--rounds=1",
        "--warmup=0.5",
        "--max-requests=2000",
        "--max-batch=8",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr  # 1 means a 5xx or a failed connection
    (row,) = [line for line in done.stdout.splitlines() if line.startswith("batched (8)")]
    requests, rate, _, _, _, server_errors, connection_errors = row.split()[2:9]
    assert int(requests) > 0 and float(rate) > 0
    assert (server_errors, connection_errors) == ("0", "0")
