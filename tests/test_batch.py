"""`photoscore batch` on a real multi-process Ray cluster on 127.0.0.1 (started once for this module), with
a real S3 API (moto's server) and a real HTTP server on loopback: scores equal `photoscore score`'s,
ranks equal `score --manifest --normalize minmax`, a job killed with SIGKILL resumes exactly once."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import REPO, write_colour_model

pytest.importorskip("ray")
pytest.importorskip("moto.server")

import boto3
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import ray
import ray.data
from moto.server import ThreadedMotoServer

from photoscore.batch import BatchJob, JobOptions
from photoscore.batch.inputs import read_input
from photoscore.batch.job import JobError
from photoscore.cli import app
from photoscore.scoring.normalize import Normalizer
from photoscore.scoring.registry import default_model

EXAMPLES = ("astronaut", "chelsea", "coffee", "coffee-blurred", "coffee-dark", "rocket")
BUCKET = "photos"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_env() -> Iterator[dict[str, str]]:
    """A real S3 API on loopback with the bucket ``photos``; the AWS variables that reach it."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield env
    server.stop()


@pytest.fixture(scope="module")
def cluster(s3_env: dict[str, str]) -> Iterator[Cluster]:
    """`ray start --head` on 127.0.0.1 (2 CPUs, a 100 MB object store), this process connected to it.
    `photoscore` processes get RAY_ADDRESS, which `batch` joins. Stopped after, also on failure, by its
    process group."""
    port = free_port()
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    env = {
        **os.environ,
        **s3_env,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "disabled",  # a loopback-only cluster of this test; no token to hand around
    }
    ray_exe = str(Path(sys.executable).parent / "ray")
    command = [ray_exe, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
               "--num-cpus=2", "--object-store-memory=100000000", f"--temp-dir={temp}",
               "--include-dashboard=false", "--disable-usage-stats"]  # fmt: skip
    log = open(Path(temp) / "ray-start.log", "w")  # noqa: SIM115 (open while the cluster runs)
    head = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"127.0.0.1:{port}"
    patch = pytest.MonkeyPatch()
    patch.setenv("RAY_AUTH_MODE", "disabled")
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                ray.init(address=address, logging_level="WARNING")
                break
            except (ConnectionError, RuntimeError):
                if time.monotonic() > deadline or head.poll() is not None:
                    raise
                time.sleep(1)
        yield Cluster({**env, "RAY_ADDRESS": address}, head.pid)
    finally:
        ray.shutdown()
        patch.undo()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(5)
        time.sleep(1)
        with contextlib.suppress(ProcessLookupError):  # what SIGTERM left of the cluster's processes
            os.killpg(head.pid, signal.SIGKILL)
        head.wait()
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


@dataclass
class Cluster:
    """The test cluster: the environment for `photoscore` processes (RAY_ADDRESS included) and the
    process id of `ray start`, which leads the process group of the cluster's servers."""

    env: dict[str, str]
    group: int

    def processes(self, title: str) -> list[int]:
        """Ids of this cluster's processes (descendants of `ray start`) whose command line holds ``title``."""
        parents = {}
        for entry in filter(str.isdigit, os.listdir("/proc")):
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
        found = []
        for pid in parents:
            ancestor = pid
            while ancestor > 1 and ancestor != self.group:
                ancestor = parents.get(ancestor, 1)
            with contextlib.suppress(OSError):
                if ancestor == self.group and title in Path(f"/proc/{pid}/cmdline").read_text():
                    found.append(pid)
        return found


def photoscore(*args: object, env: dict[str, str], timeout: float = 170) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photoscore", *map(str, args)], capture_output=True, text=True, env=env,
        timeout=timeout,
    )  # fmt: skip


def score_json(*args: object) -> list[dict]:
    """`photoscore score ... --json` run in this process."""
    result = CliRunner().invoke(app, ["score", *map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def read_output(location: str) -> list[dict]:
    """The rows of an output dataset (local or s3://) in input order."""
    rows = pads.dataset(location, format="parquet").to_table().to_pylist()
    return sorted(rows, key=lambda r: r["input_row"])


def bad_files(folder: Path) -> list[str]:
    """An empty file, a truncated JPEG and a text file named .jpg."""
    (folder / "empty.jpg").write_bytes(b"")
    whole = (REPO / "examples" / "rocket.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    (folder / "notes.jpg").write_text("not a photo\n")
    return ["empty.jpg", "truncated.jpg", "notes.jpg"]


def test_manifest_scores_and_ranks_as_score_does(cluster, tmp_path: Path):
    """The bundled default model on the example photos and broken files, four shards, three listings."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in EXAMPLES:
        shutil.copy(REPO / "examples" / f"{name}.jpg", folder)
    names = [f"{n}.jpg" for n in EXAMPLES] + bad_files(folder) + ["absent.jpg"]
    listings = ["L1", "L1", "L2", "L2", "L2", "L3", "L1", "L2", "L3", "L3"]
    manifest = tmp_path / "listings.csv"
    with manifest.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["listing_id", "path", "note", "price"])
        for index, (listing, name) in enumerate(zip(listings, names, strict=True)):
            writer.writerow([listing, f"photos/{name}", f"note {index}", 100 + index])
    out = tmp_path / "out"
    no_env = {k: v for k, v in cluster.env.items() if k != "RAY_ADDRESS"}  # --address, not $RAY_ADDRESS
    run = photoscore("batch", manifest, "--out", out, "--listing-column", "listing_id", "--normalize", "minmax",
                     "--shard-size", "3", "--address", cluster.env["RAY_ADDRESS"], env=no_env)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "Scored 6 of 10 photos; 4 could not be scored." in run.stderr
    by_path = {
        str(Path(r["path"]).absolute()): r
        for r in score_json("--manifest", manifest, "--normalize", "minmax")
    }

    rows = read_output(str(out))
    assert [r["input_row"] for r in rows] == list(range(10))
    assert sorted(p.name for p in out.iterdir()) == ["_photoscore_batch.json"] + [
        f"part-00000{k}.parquet" for k in range(4)
    ]
    for index, row in enumerate(rows):
        want = by_path[row["path"]]
        assert row["path"] == str(folder / names[index])
        assert (row["listing_id"], row["note"], row["price"]) == (
            listings[index],
            f"note {index}",
            100 + index,
        )
        assert (row["image_id"], row["error"]) == (want["image_id"], want["error"])
        assert (row["group"], row["rank"]) == (want["group"], want["rank"])
        if want["error"] is None:
            assert row["mean_score_prediction"] == pytest.approx(want["mean_score_prediction"], abs=1e-6)
            assert row["std_score_prediction"] == pytest.approx(want["std_score_prediction"], abs=1e-6)
            assert np.allclose(row["distribution"], want["distribution"], atol=1e-6)
            assert row["normalized_score"] == pytest.approx(want["normalized_score"], abs=1e-6)
        else:
            assert row["mean_score_prediction"] is None and row["normalized_score"] is None
    assert {r["error"] for r in rows if r["error"]} >= {"empty file (0 bytes)", "file not found"}

    other = JobOptions(listing_column="listing_id", shard_size=4)
    with pytest.raises(JobError, match="other shard_size"):
        BatchJob.prepare(str(manifest), str(out), [default_model()], other)


def test_run_job_on_a_folder_with_two_models(cluster, tmp_path: Path):
    """The Python face of the job (this process is the driver): a folder with sub-folders, an ensemble."""
    from photoscore.batch import run_job

    folder = tmp_path / "listing" / "inner"
    folder.mkdir(parents=True)
    for name in EXAMPLES[:3]:
        shutil.copy(REPO / "examples" / f"{name}.jpg", folder)
    bad_files(folder.parent)
    models = [write_colour_model(tmp_path / "a.onnx", "a", seed=1),
              write_colour_model(tmp_path / "b.onnx", "b", input_size=(24, 40), seed=2)]  # fmt: skip
    fitted = Normalizer.fit("zscore", [3.0, 5.0, 7.0])  # a normaliser without listings: no rank
    options = JobOptions(recursive=True, weights=[3, 1], normalizer=fitted, shard_size=4, actors=1, threads=1)
    report = run_job(str(tmp_path / "listing"), str(tmp_path / "out"), models, options)
    assert (report.photos, report.scored, report.failed, report.new, report.resumed) == (6, 3, 3, 6, 0)
    want = score_json(tmp_path / "listing", "-r", "-m", models[0], "-m", models[1], "--model-weights", "3,1")
    rows = read_output(str(tmp_path / "out"))
    assert [r["path"] for r in rows] == [str(Path(w["path"]).absolute()) for w in want]
    for row, record in zip(rows, want, strict=True):
        assert row["error"] == record["error"]
        if record["error"] is None:
            assert row["mean_score_prediction"] == pytest.approx(record["mean_score_prediction"], abs=1e-6)
            assert row["a.mean"] == pytest.approx(record["models"]["a"]["mean"], abs=1e-6)
            assert row["b.std"] == pytest.approx(record["models"]["b"]["std"], abs=1e-6)
            shown = round(row["mean_score_prediction"], 6)
            assert row["normalized_score"] == pytest.approx(float(fitted.apply(shown)), abs=1e-6)
        assert "rank" not in row
    again = run_job(str(tmp_path / "listing"), str(tmp_path / "out"), models, options)
    assert (again.new, again.resumed, again.scored) == (0, 6, 3)


def test_object_store_and_web_photos(cluster, photo_server, photo_dir: Path, tmp_path: Path):
    """A Parquet manifest on s3:// naming s3:// and http:// photos; the output written to s3://."""
    s3 = boto3.client("s3")
    for name in ("chelsea", "coffee"):
        s3.upload_file(str(photo_dir / f"{name}.jpg"), BUCKET, f"in/{name}.jpg")
    s3.put_object(Bucket=BUCKET, Key="in/broken.jpg", Body=b"\xff\xd8\xff not really")
    folder_photos = read_input(f"s3://{BUCKET}/in/").table.column("path").to_pylist()  # a folder on S3
    assert folder_photos == [f"s3://{BUCKET}/in/{n}.jpg" for n in ("broken", "chelsea", "coffee")]
    url = photo_server.url
    locations = {
        f"s3://{BUCKET}/in/chelsea.jpg": "chelsea",
        f"s3://{BUCKET}/in/coffee.jpg": "coffee",
        f"s3://{BUCKET}/in/broken.jpg": None,
        f"s3://{BUCKET}/in/absent.jpg": None,
        f"{url}/photos/rocket.jpg": "rocket",
        f"{url}/slow/astronaut.jpg": "astronaut",
        f"{url}/missing/chelsea.jpg": None,
        f"{url}/hang/coffee.jpg": None,
    }
    manifest = tmp_path / "manifest.parquet"
    pq.write_table(pa.table({"url": list(locations), "sku": list(range(len(locations)))}), manifest)
    s3.upload_file(str(manifest), BUCKET, "jobs/manifest.parquet")
    model = write_colour_model(tmp_path / "colour.onnx")
    out = f"s3://{BUCKET}/jobs/out"
    run = photoscore("batch", f"s3://{BUCKET}/jobs/manifest.parquet", "--out", out, "--path-column", "url",
                     "-m", model, "--timeout", "1", "--attempts", "2", env=cluster.env)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "Scored 4 of 8 photos; 4 could not be scored." in run.stderr
    expected = {Path(r["path"]).stem: r for r in score_json(photo_dir, "-m", model)}
    rows = read_output(out)
    assert [r["url"] for r in rows] == list(locations) == [r["path"] for r in rows]
    assert [r["sku"] for r in rows] == list(range(8))
    for row, photo in zip(rows, locations.values(), strict=True):
        if photo is None:
            assert row["error"] and row["mean_score_prediction"] is None
            continue
        assert row["error"] is None and row["image_id"] == photo
        assert row["mean_score_prediction"] == pytest.approx(
            expected[photo]["mean_score_prediction"], abs=1e-6
        )
    errors = [r["error"] for r in rows]
    assert errors[3] == "file not found" and errors[6].startswith("HTTP 404")
    assert errors[7] == "timed out after 1 s (after 2 attempts)"
    assert errors[2].startswith("not an image")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="jobs/out/")["Contents"]
    assert sorted(o["Key"] for o in listed if not o["Key"].endswith("/")) == [
        "jobs/out/_photoscore_batch.json",
        "jobs/out/part-000000.parquet",
    ]


def test_score_dataset_in_a_pipeline_of_ones_own(cluster, photo_dir: Path, tmp_path: Path):
    from photoscore.batch import score_dataset
    from photoscore.scoring.engine import Scorer

    model = write_colour_model(tmp_path / "colour.onnx")
    photos = sorted(photo_dir.glob("*.jpg"))
    dataset = ray.data.from_items([{"photo": str(p), "sku": k} for k, p in enumerate(photos)])
    rows = score_dataset(dataset, [model], path_column="photo", actors=1, threads=1).take_all()
    expected = {r.path: r.mean_score_prediction for r in Scorer([model]).score(photos)}
    assert sorted((r["sku"], r["photo"]) for r in rows) == [(k, str(p)) for k, p in enumerate(photos)]
    for row in rows:
        assert row["mean_score_prediction"] == pytest.approx(expected[row["photo"]], abs=1e-6)


def paced_job(tmp_path: Path, photo_server) -> tuple[list[str], list[str], Path]:
    """A manifest of 88 photos in 8 shards of 11, each with one web photo served 0.5 s late, so the job
    runs for a while; returns the photo locations, the `batch` command and its output folder."""
    folder = tmp_path / "generated"
    folder.mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for index in range(80):
        name = f"p{index:03d}.jpg"
        pixels = rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name, quality=85)
        rows.append(str(folder / name))
        if index % 10 == 9:
            rows.append(f"{photo_server.url}/slow/chelsea.jpg?n={index}&{tmp_path.name}")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path\n" + "\n".join(rows) + "\n")
    model = write_colour_model(tmp_path / "colour.onnx")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "photoscore", "batch", str(manifest), "--out", str(out), "-m", str(model),
               "--shard-size", "11", "--threads", "1", "--actors", "1", "--batch-size", "4"]  # fmt: skip
    return rows, command, out


def wait_for_a_part(out: Path, driver: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not list(out.glob("part-*.parquet")):
        assert driver.poll() is None and time.monotonic() < deadline, driver.stderr.read().decode()
        time.sleep(0.05)


def kill_and_settle(driver: subprocess.Popen, parts: Path) -> dict[str, int]:
    """SIGKILL the driver, then wait until the killed job's actor is gone and no more part files appear
    in ``parts``; the part files left, by name, with their modification times."""
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    driver.stderr.close()
    before: dict[str, int] = {}
    while True:
        time.sleep(1.5)
        now = {p.name: p.stat().st_mtime_ns for p in parts.glob("part-*.parquet")}
        if now == before:
            return before
        before = now


def test_a_killed_job_resumes_exactly_once(cluster, photo_server, tmp_path: Path):
    """SIGKILL the driver once some parts are written; the rerun scores only the rest."""
    rows, command, out = paced_job(tmp_path, photo_server)
    driver = subprocess.Popen(command, env=cluster.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_a_part(out, driver)
    before = kill_and_settle(driver, out)
    shards = 8
    assert 1 <= len(before) < shards
    done = sum(pq.read_metadata(out / name).num_rows for name in before)

    rerun = photoscore(*command[3:], env=cluster.env)
    assert rerun.returncode == 0, rerun.stderr
    assert f"This run: {len(rows) - done} photos" in rerun.stderr and f"{done} already done" in rerun.stderr
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    assert len(after) == shards and all(after[name] == mtime for name, mtime in before.items())
    result = read_output(str(out))
    assert [r["input_row"] for r in result] == list(range(len(rows)))
    assert [r["path"] for r in result] == rows
    assert all(r["error"] is None for r in result)


def test_a_dying_worker_is_replaced(cluster, photo_server, tmp_path: Path):
    """SIGKILL the scoring actor's process mid-job: Ray restarts it, the shard it held is scored again
    into the same part file, and every photo still appears once."""
    rows, command, out = paced_job(tmp_path, photo_server)
    driver = subprocess.Popen(command, env=cluster.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_a_part(out, driver)
    actors = cluster.processes("MapWorker(MapBatches(ShardWriter))")
    assert len(actors) == 1
    os.kill(actors[0], signal.SIGKILL)
    _, stderr = driver.communicate(timeout=170)
    assert driver.returncode == 0, stderr.decode()
    assert f"Scored {len(rows)} of {len(rows)} photos" in stderr.decode()
    result = read_output(str(out))
    assert [r["input_row"] for r in result] == list(range(len(rows)))
    assert [r["path"] for r in result] == rows
