"""Hostile clients against a real server on 127.0.0.1: heavy requests, pixel bombs, slow and keyless
clients. Each test sends the hostile request and ordinary ones in the same run and checks that the
ordinary ones are still scored."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import asyncio
import socket
import time
from pathlib import Path

import httpx
from hostile_images import deep_grey_png, rgb_png, scan_bomb_jpeg
from PIL import Image
from server_helpers import running_server, uploads

from photoscore.images import DEFAULT_MAX_PIXELS
from photoscore.server.settings import ServerSettings

from conftest import write_colour_model

DECLARED_BODY = 95 * 2**20


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_colour_model(tmp_path_factory.mktemp("models") / "colour.onnx"))


@pytest.fixture(scope="module")
def photos(photo_dir: Path) -> list[Path]:
    return sorted(photo_dir.glob("*.jpg"))


def served(model: str, **settings: object):
    return running_server(ServerSettings(models=[model], **settings))


def png(name: str, data: bytes) -> tuple[str, tuple[str, bytes, str]]:
    return ("photos", (name, data, "image/png"))


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def answer(sock: socket.socket, within: float) -> tuple[bytes, bool]:
    """What the server sends within ``within`` seconds, and whether it closed the connection."""
    sock.settimeout(within)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        return received, False
    return received, True


def upload_head(path: str, length: int, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {length}\r\n{extra}\r\n"
    ).encode() + b'--b\r\nContent-Disposition: form-data; name="photos"; filename="a.jpg"\r\n\r\n'


# --- item 2: fairness and the pixel budget ----------------------------------------------------------


def test_a_small_request_is_answered_while_a_heavy_one_decodes(model, photos):
    """40 photos of 49 MP (just under the request's pixel budget) take longer to decode than the
    request's 6 s, even on a quiet machine; a one-photo request sent meanwhile gets its scores within a
    few seconds, not after them."""
    heavy = [png(f"big{i}.png", rgb_png(7000, 7000)) for i in range(40)]
    with served(model, timeout_s=6) as url:

        async def race() -> tuple[float, httpx.Response, httpx.Response]:
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                heavy_call = asyncio.ensure_future(client.post("/v1/score", files=heavy))
                deadline = time.monotonic() + 10
                while (await client.get("/readyz")).json()["decoding"] == 0:
                    assert time.monotonic() < deadline, "the heavy request never started decoding"
                    await asyncio.sleep(0.05)
                start = time.monotonic()
                small = await client.post("/v1/score", files=uploads(photos[:1]))
                waited = time.monotonic() - start
                assert not heavy_call.done()  # still decoding: the small one did not wait for it
                return waited, small, await heavy_call

        waited, small, heavy_answer = asyncio.run(race())
        assert small.status_code == 200 and small.json()["scored"] == 1
        assert waited < 4, f"the small request waited {waited:.1f} s"
        # Its 6 s ran out: the photos it still had waiting are dropped.
        assert heavy_answer.status_code == 503
        ready = httpx.get(f"{url}/readyz").json()
        assert ready["to_decode"] == 0


def test_pixel_budget_refuses_a_request_before_decoding(model, photos):
    """Three 100 MP photos (200 KB files) against a budget of 250 MP: 413 at once, with the reason."""
    bombs = [png(f"deep{i}.png", deep_grey_png()) for i in range(3)]
    with served(model, max_pixels=100_000_000, max_request_pixels=250_000_000) as url:
        start = time.monotonic()
        refused = httpx.post(f"{url}/v1/score", files=[*uploads(photos[:1]), *bombs], timeout=30)
        assert time.monotonic() - start < 3  # nothing was decoded (one photo of 100 MP takes 3-6 s)
        assert refused.status_code == 413
        width, height = Image.open(photos[0]).size
        assert refused.json()["error"] == (
            f"4 photos with {width * height + 3 * 99_990_000:,} pixels in all, more than the limit of "
            "250,000,000 pixels per request; send fewer or smaller photos"
        )
        fine = httpx.post(f"{url}/v1/score", files=uploads(photos), timeout=30)
        assert fine.status_code == 200 and fine.json()["scored"] == len(photos)


def test_a_photo_over_max_pixels_fails_alone_naming_photoscores_limit(model, photos):
    with served(model) as url:
        start = time.monotonic()
        files = [*uploads(photos[:1]), png("deep.png", deep_grey_png()), *uploads(photos[1:2])]
        body = httpx.post(f"{url}/v1/score", files=files, timeout=30).json()
        assert time.monotonic() - start < 3  # refused from its header, not decoded
    assert (body["scored"], body["failed"]) == (2, 1)
    assert body["results"][1]["error"] == (
        f"too many pixels: 10000x9999 = 99,990,000, more than photoscore's limit of {DEFAULT_MAX_PIXELS:,}"
    )
    assert body["results"][0]["error"] is None and body["results"][2]["error"] is None


# --- item 6: keyless and slow clients ---------------------------------------------------------------


def test_a_request_without_the_key_is_refused_before_its_body(model, photos):
    with served(model, api_key="s3cret-key") as url:
        for extra in ("", "X-API-Key: wrong\r\n"):
            with connect(url) as sock:
                sock.sendall(upload_head("/v1/score", DECLARED_BODY, extra) + b"x" * 1024)
                received, closed = answer(sock, within=3)
            assert received.startswith(b"HTTP/1.1 401 "), received[:100]
            assert b"missing or wrong API key" in received
            assert closed  # the 95 MB body is never read
        ok = httpx.post(f"{url}/v1/score", files=uploads(photos[:1]), headers={"X-API-Key": "s3cret-key"})
        assert ok.status_code == 200 and ok.json()["scored"] == 1


def test_slow_headers_and_stalled_bodies_are_cut_off_while_others_are_served(model, photos):
    with served(model, header_timeout_s=1, body_timeout_s=1) as url:
        slow_head, stalled_body, silent = connect(url), connect(url), connect(url)
        slow_head.sendall(b"POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the rest
        stalled_body.sendall(upload_head("/v1/score", DECLARED_BODY) + b"x" * 1024)  # 1 KB of 95 MB
        ok = httpx.post(f"{url}/v1/score", files=uploads(photos[:2]))
        assert ok.status_code == 200 and ok.json()["scored"] == 2
        start = time.monotonic()
        answers = {}
        for name, sock in (("head", slow_head), ("body", stalled_body), ("silent", silent)):
            with sock:
                answers[name], closed = answer(sock, within=6)
            assert closed, f"{name}: still open after {time.monotonic() - start:.1f} s"
        assert time.monotonic() - start < 4
        assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers.values()), answers
        assert b"request body stalled: nothing received for 1 s" in answers["body"]
        again = httpx.post(f"{url}/v1/score", files=uploads(photos[:1]))
        assert again.status_code == 200


# --- round 2: scan bombs and timed-out requests -------------------------------------------------------


def test_scan_bombs_are_refused_at_once_and_the_server_stays_free(model, photos):
    """Two progressive JPEGs of 2,000 copies of one scan (about 10 s of decoding each) fail at once,
    naming the scan count, so a photo sent with them is scored in a second, and so is the next request
    (before, both waited for the bombs, and with --timeout the next request got 503 too)."""
    bomb = ("photos", ("bomb.jpg", scan_bomb_jpeg(3000, 3000, 2000), "image/jpeg"))
    with served(model, timeout_s=5) as url:
        start = time.monotonic()
        body = httpx.post(f"{url}/v1/score", files=[bomb, bomb, *uploads(photos[:1])], timeout=30).json()
        assert time.monotonic() - start < 1
        assert [r["error"] is None for r in body["results"]] == [False, False, True]
        assert "a JPEG of 2,010 scans, more than photoscore's limit" in body["results"][0]["error"]
        assert httpx.get(f"{url}/readyz").json()["decoding"] == 0
        ok = httpx.post(f"{url}/v1/score", files=uploads(photos[:1]), timeout=30)
        assert ok.status_code == 200 and ok.json()["scored"] == 1
