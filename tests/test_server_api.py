"""The HTTP API over real HTTP: uvicorn on 127.0.0.1, real photos, small real ONNX models."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import httpx
from server_helpers import load_test_script, running_server, uploads

from photoscore import __version__
from photoscore.scoring.engine import Scorer
from photoscore.scoring.output import result_record
from photoscore.server.batcher import MicroBatcher
from photoscore.server.settings import ServerSettings

from conftest import write_colour_model


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("models")
    return [
        write_colour_model(folder / "colour.onnx"),
        write_colour_model(folder / "wide.onnx", name="wide", input_size=(48, 40), seed=1),
    ]


@pytest.fixture(scope="module")
def photos(photo_dir: Path) -> list[Path]:
    return sorted(photo_dir.glob("*.jpg"))


@pytest.fixture(scope="module")
def server(models: list[Path]) -> str:
    with running_server(ServerSettings(models=[str(m) for m in models], max_wait_ms=50)) as url:
        yield url


def served(settings_overrides: dict, models: list[Path]):
    return running_server(ServerSettings(models=[str(m) for m in models], **settings_overrides))


def test_score_gives_the_cli_fields_in_upload_order(server, models, photos):
    sent = [photos[2], photos[0], photos[3], photos[1]]
    response = httpx.post(f"{server}/v1/score", files=uploads(sent))
    assert response.status_code == 200
    body = response.json()
    assert (body["scored"], body["failed"]) == (4, 0)
    scorer = Scorer(models)
    names = [m.name for m in scorer.models]
    for got, result in zip(body["results"], scorer.score(sent), strict=True):
        expected = result_record(result, names) | {"path": Path(result.path).name}
        assert_close(got, expected)


def assert_close(got: dict, expected: dict) -> None:
    """Nested records equal up to rounding in the 6th decimal (a batch's make-up can move the last bit)."""
    assert list(got) == list(expected)
    for key, value in expected.items():
        if isinstance(value, dict):
            assert_close(got[key], value)
        elif isinstance(value, list | float):
            assert got[key] == pytest.approx(value, abs=2e-6), key
        else:
            assert got[key] == value, key


def test_rank_normalises_ranks_names_a_cover_and_flags(server, models, photos):
    expected = {r.image_id: r for r in Scorer(models).score(photos)}
    means = sorted(r.mean_score_prediction for r in expected.values())
    flag_below = (means[0] + means[1]) / 2
    response = httpx.post(
        f"{server}/v1/rank",
        files=uploads(photos),
        params={"scale": "0-100", "flag_below": flag_below, "listing_id": "L1"},
    )
    assert response.status_code == 200
    body = response.json()
    ranked = body["photos"]
    assert [p["rank"] for p in ranked] == [1, 2, 3, 4]
    assert [p["normalized_score"] for p in ranked][::3] == [100.0, 0.0]
    assert [p["mean_score_prediction"] for p in ranked] == sorted(
        (p["mean_score_prediction"] for p in ranked), reverse=True
    )
    assert all(p["group"] == "L1" for p in ranked)
    assert body["cover"] == ranked[0]["index"]
    assert body["flagged"] == [ranked[-1]["index"]]
    assert body["flag_below"] == pytest.approx(flag_below)
    bad_threshold = httpx.post(f"{server}/v1/rank", files=uploads(photos[:1]), params={"flag_below": "nan"})
    assert bad_threshold.status_code == 422
    assert bad_threshold.json()["details"][0]["where"] == "query.flag_below"
    for photo in ranked:
        assert photos[photo["index"]].name == photo["path"]
        assert photo["mean_score_prediction"] == pytest.approx(
            expected[photo["image_id"]].mean_score_prediction, abs=2e-6
        )


def test_bad_uploads_are_listed_and_the_rest_scored(server, photos):
    truncated = photos[0].read_bytes()[:2000]
    files = [
        ("photos", ("notes.txt", b"not a photo", "text/plain")),
        ("photos", ("empty.jpg", b"", "image/jpeg")),
        *uploads(photos[:1]),
        ("photos", ("cut.jpg", truncated, "image/jpeg")),
    ]
    body = httpx.post(f"{server}/v1/score", files=files).json()
    assert (body["scored"], body["failed"]) == (1, 3)
    errors = [r["error"] for r in body["results"]]
    assert "not an image" in errors[0]
    assert "empty file" in errors[1]
    assert errors[2] is None
    assert "truncated or corrupt" in errors[3]


def test_nothing_valid_is_400_with_the_reasons(server):
    response = httpx.post(f"{server}/v1/rank", files=[("photos", ("a.txt", b"text", "text/plain"))])
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "no photo could be scored"
    assert body["photos"][0]["error"].startswith("not an image")
    assert body["cover"] is None
    for empty in ({}, {"data": {"note": "hello"}}):
        response = httpx.post(f"{server}/v1/score", **empty)
        assert response.status_code == 400
        assert "no photos" in response.json()["error"]


def test_paths_in_requests_are_never_read(server, photos):
    real = str(photos[0].resolve())
    response = httpx.post(f"{server}/v1/score", files=[("photos", (real, b"not a photo", "image/jpeg"))])
    assert response.status_code == 400
    (result,) = response.json()["results"]
    assert result["path"] == photos[0].name  # folders dropped; the bytes, not the file, were decoded
    assert "not an image" in result["error"]
    response = httpx.post(f"{server}/v1/score", data={"photos": real})
    assert response.status_code in (400, 422)
    traversal = httpx.post(
        f"{server}/v1/score", files=[("photos", ("../../../etc/passwd", b"x", "text/plain"))]
    )
    assert traversal.json()["results"][0]["path"] == "passwd"


def test_size_and_count_limits_answer_413_json(models, photos):
    biggest = max(p.stat().st_size for p in photos)
    limits = {"max_file_mb": biggest / 2**20 / 2, "max_request_mb": biggest * 3 / 2**20, "max_photos": 2}
    with served(limits, models) as url:
        too_big = httpx.post(f"{url}/v1/score", files=uploads([max(photos, key=lambda p: p.stat().st_size)]))
        assert too_big.status_code == 413
        assert "per photo" in too_big.json()["error"]
        too_many = httpx.post(
            f"{url}/v1/score", files=[("photos", (f"{i}.jpg", b"x", "image/jpeg")) for i in range(3)]
        )
        assert too_many.status_code == 413
        assert "more than the limit of 2" in too_many.json()["error"]
        declared = httpx.post(f"{url}/v1/score", files=uploads(photos))
        assert declared.status_code == 413
        assert "request body of" in declared.json()["error"]

        def chunks():  # a well-formed upload without Content-Length: counted as the body streams in
            yield b'--b\r\nContent-Disposition: form-data; name="photos"; filename="big.jpg"\r\n\r\n'
            for _ in range(8):
                yield b"x" * biggest
            yield b"\r\n--b--\r\n"

        streamed = httpx.post(
            f"{url}/v1/score", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"}
        )
        assert streamed.status_code == 413
        assert streamed.json()["error"].startswith("request body is larger than the limit")
        assert httpx.get(f"{url}/healthz").status_code == 200


def test_timeout_answers_503_and_drops_the_queued_photos(models, photos):
    slow_batches = {"timeout_s": 0.2, "max_wait_ms": 1000, "max_batch": 64}
    with served(slow_batches, models) as url:
        response = httpx.post(f"{url}/v1/score", files=uploads(photos[:1]))
        assert response.status_code == 503
        assert "longer than the limit of 0.2 s" in response.json()["error"]
        assert response.headers["Retry-After"]
        time.sleep(1.2)
        ready = httpx.get(f"{url}/readyz").json()
        assert (ready["queued"], ready["batches"]) == (0, 0)


def test_api_key_guards_v1_only(models, photos):
    with served({"api_key": "s3cret-key"}, models) as url:
        for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": "s3cret-ke"}):
            response = httpx.get(f"{url}/v1/models", headers=headers)
            assert response.status_code == 401
            assert "API key" in response.json()["error"]
        assert httpx.post(f"{url}/v1/score", files=uploads(photos[:1])).status_code == 401
        ok = httpx.post(f"{url}/v1/score", files=uploads(photos[:1]), headers={"X-API-Key": "s3cret-key"})
        assert ok.status_code == 200
        for open_path in ("/healthz", "/readyz", "/", "/docs", "/openapi.json"):
            assert httpx.get(url + open_path).status_code == 200, open_path


def test_models_probes_docs_and_page(server):
    models = httpx.get(f"{server}/v1/models").json()
    assert models["ensemble"] == "distribution"
    assert [(m["name"], m["weight"]) for m in models["models"]] == [("colour", 0.5), ("wide", 0.5)]
    assert models["models"][1]["card"]["preprocessing"]["input_size"] == [48, 40]
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok", "version": __version__}
    ready = httpx.get(f"{server}/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    paths = httpx.get(f"{server}/openapi.json").json()["paths"]
    assert {"/v1/score", "/v1/rank", "/v1/models", "/healthz", "/readyz"} <= set(paths)
    assert "swagger" in httpx.get(f"{server}/docs").text.lower()
    page = httpx.get(server)
    assert "Content-Security-Policy" in page.headers
    assert '<label for="photos">' in page.text
    assert httpx.get(f"{server}/static/app.js").status_code == 200


def test_concurrent_requests_share_model_runs(server, photos):
    before = httpx.get(f"{server}/readyz").json()

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=server) as client:
            calls = [client.post("/v1/score", files=uploads([photos[i % 4]])) for i in range(12)]
            return [r.status_code for r in await asyncio.gather(*calls)]

    assert asyncio.run(burst()) == [200] * 12
    after = httpx.get(f"{server}/readyz").json()
    assert after["photos"] - before["photos"] == 12
    assert after["batches"] - before["batches"] < 12


def test_batcher_gathers_up_to_max_batch_and_skips_abandoned_items():
    sizes: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        sizes.append(items)
        if -1 in items:
            raise ValueError("bad batch")
        return [i * 10 for i in items]

    async def scenario() -> None:
        batcher = MicroBatcher(run, max_batch=4, max_wait=0.05)
        batcher.start()
        results = await asyncio.gather(*(batcher.submit([i]) for i in range(6)), batcher.submit([6, 7]))
        assert results == [[0], [10], [20], [30], [40], [50], [60, 70]]
        abandoned = asyncio.ensure_future(batcher.submit([8]))
        await asyncio.sleep(0)
        abandoned.cancel()
        with pytest.raises(ValueError, match="bad batch"):
            await batcher.submit([-1])
        assert await batcher.submit([9]) == [90]  # the worker outlives a failed batch
        await batcher.stop()

    asyncio.run(scenario())
    assert [len(s) for s in sizes[:2]] == [4, 4]
    assert all(8 not in s for s in sizes)


def test_serve_command_binds_loopback_with_workers(models, photos, tmp_path):
    log = tmp_path / "serve.log"
    args = [f"--model={models[0]}", "--workers=2", "--log-level=info"]
    with load_test_script().serve_subprocess(args, log=log) as url:
        response = httpx.post(f"{url}/v1/score", files=uploads(photos[:2]))
        assert response.status_code == 200 and response.json()["scored"] == 2
    text = log.read_text()
    assert f"Uvicorn running on {url}" in text
    assert text.count("Application startup complete") == 2


def test_serve_command_refuses_a_bad_model(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    code = "import typer; from photoscore.cli.serve import serve; typer.run(serve)"
    done = subprocess.run([sys.executable, "-c", code, "--model", str(bad)], capture_output=True, text=True)
    assert done.returncode == 2
    assert "not a readable ONNX model" in done.stderr


def test_scoring_and_the_cli_module_need_no_web_framework():
    code = (
        "import sys; import photoscore.cli.serve, photoscore.scoring.engine; "
        "assert not {'fastapi', 'uvicorn', 'starlette'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
