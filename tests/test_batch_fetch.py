"""Fetching photos and scoring rows without a cluster: a real loopback HTTP server, real files, real models."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

pytest.importorskip("pyarrow")

import pyarrow as pa

from photoscore.batch.fetch import Fetcher, FetchError, is_remote, redact_credentials
from photoscore.batch.inputs import read_input
from photoscore.batch.photos import ModelBlob, PhotoScorer
from photoscore.scoring.engine import Scorer


def test_locations_are_told_apart():
    assert is_remote("s3://bucket/a.jpg") and is_remote("https://host/a.jpg") and is_remote("gs://b/c.png")
    assert not is_remote("/photos/a.jpg") and not is_remote("a.jpg") and not is_remote("file:///photos/a.jpg")
    assert not is_remote("c:/photos/a.jpg")


def test_http_photos_arrive_whole(photo_server, photo_dir: Path):
    fetcher = Fetcher(timeout=3, attempts=2)
    assert fetcher.fetch(f"{photo_server.url}/photos/coffee.jpg") == (photo_dir / "coffee.jpg").read_bytes()
    assert fetcher.fetch(f"{photo_server.url}/slow/rocket.jpg") == (photo_dir / "rocket.jpg").read_bytes()


def test_a_404_is_final_and_a_503_is_tried_again(photo_server):
    fetcher = Fetcher(timeout=3, attempts=3)
    with pytest.raises(FetchError, match="HTTP 404"):
        fetcher.fetch(f"{photo_server.url}/missing/chelsea.jpg?fetch-test")
    assert photo_server.requests["/missing/chelsea.jpg?fetch-test"] == 1
    assert fetcher.fetch(f"{photo_server.url}/flaky/astronaut.jpg?fetch-test")
    assert photo_server.requests["/flaky/astronaut.jpg?fetch-test"] == 2


def test_a_server_that_does_not_answer_times_out_after_the_attempts(photo_server):
    fetcher = Fetcher(timeout=0.5, attempts=2)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"timed out after 0.5 s \(after 2 attempts\)"):
        fetcher.fetch(f"{photo_server.url}/hang/chelsea.jpg?fetch-test")
    assert time.monotonic() - started < 4
    assert photo_server.requests["/hang/chelsea.jpg?fetch-test"] == 2


def test_a_closed_port_and_a_missing_file_are_errors(tmp_path: Path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError, match="cannot connect"):
        Fetcher(timeout=1, attempts=2).fetch(f"http://127.0.0.1:{port}/a.jpg")
    with pytest.raises(FetchError, match="file not found"):
        Fetcher().fetch(str(tmp_path / "absent.jpg"))
    big = tmp_path / "big.jpg"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(FetchError, match="larger than 1,024 bytes"):
        Fetcher(max_bytes=1024).fetch(str(big))


def test_rows_score_as_the_engine_scores_files(photo_server, photo_dir: Path, colour_model, tmp_path: Path):
    model = colour_model()
    (tmp_path / "empty.jpg").write_bytes(b"")
    locations = [
        str(photo_dir / "chelsea.jpg"),
        f"{photo_server.url}/photos/coffee.jpg",
        f"{photo_server.url}/missing/rocket.jpg",
        str(tmp_path / "empty.jpg"),
        None,
        f"file://{photo_dir / 'astronaut.jpg'}",
    ]
    batch = pa.table({"path": locations, "listing": ["a", "a", "b", "b", "c", "c"]})
    scored = PhotoScorer([ModelBlob.read(model)], batch_size=2, threads=1)(batch).to_pylist()
    expected = {
        r.path: r for r in Scorer([model]).score(photo_dir / f"{n}.jpg" for n in ("chelsea", "coffee"))
    }
    assert [row["listing"] for row in scored] == ["a", "a", "b", "b", "c", "c"]
    chelsea, coffee, missing, empty, nothing, astronaut = scored
    assert chelsea["mean_score_prediction"] == pytest.approx(
        expected[str(photo_dir / "chelsea.jpg")].mean_score_prediction, abs=1e-6
    )
    assert coffee["mean_score_prediction"] == pytest.approx(
        expected[str(photo_dir / "coffee.jpg")].mean_score_prediction, abs=1e-6
    )
    assert coffee["path"] == locations[1] and coffee["image_id"] == "coffee" and coffee["error"] is None
    assert len(coffee["distribution"]) == 10 and sum(coffee["distribution"]) == pytest.approx(1, abs=1e-5)
    assert missing["error"].startswith("HTTP 404") and missing["mean_score_prediction"] is None
    assert empty["error"] == "empty file (0 bytes)"
    assert nothing["error"] == "no photo location in this row"
    assert astronaut["error"] is None and astronaut["image_id"] == "astronaut"


@pytest.mark.parametrize("kind", ["trickle", "trickle-head"])
def test_a_server_trickling_a_byte_at_a_time_is_cut_off_at_the_deadline(photo_server, kind):
    """A byte every 50 ms never lets a read time out; the attempt's deadline covers the whole transfer,
    headers and body, so it ends after --timeout whatever the server does (not after its 10 s)."""
    fetcher = Fetcher(timeout=0.5, attempts=2)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"timed out after 0.5 s \(after 2 attempts\)"):
        fetcher.fetch(f"{photo_server.url}/{kind}/chelsea.jpg")
    assert time.monotonic() - started < 2.5


def test_malformed_urls_and_credentials_keep_a_row_error_and_the_password_goes_nowhere(
    photo_server, colour_model, tmp_path: Path
):
    """A malformed IPv6 URL used to abort the job on the driver, a URL with a password in the actor (and
    print it); both now keep their row with an error, and the password is in no cell of the result."""
    host = photo_server.url.removeprefix("http://")
    urls = [
        f"{photo_server.url}/photos/coffee.jpg",
        "http://[::1/x.jpg",
        f"http://user:p4ssw0rd@{host}/photos/rocket.jpg",
        "http://host:notaport/x.jpg",
    ]
    manifest = tmp_path / "urls.csv"
    manifest.write_text("path\n" + "\n".join(urls) + "\n")
    photos = read_input(str(manifest))
    assert "p4ssw0rd" not in str(photos.table.to_pylist())
    scored = PhotoScorer([ModelBlob.read(colour_model())], threads=1, attempts=1)(photos.table).to_pylist()
    assert "p4ssw0rd" not in str(scored)
    assert [row["error"] is None for row in scored] == [True, False, False, False]
    assert scored[1]["error"].startswith("malformed URL (")
    assert scored[2]["path"] == f"http://***@{host}/photos/rocket.jpg"
    assert scored[2]["image_id"] == "rocket"
    assert scored[2]["error"] == (
        "the URL holds a user name or password (user:password@host), which photoscore never sends; use a "
        "presigned URL or the object store's own credentials"
    )
    assert scored[3]["error"].startswith("malformed URL (")


def test_redact_credentials_and_is_remote_never_raise():
    assert redact_credentials("https://u:p@h/a@b.jpg?q=@") == "https://***@h/a@b.jpg?q=@"
    assert redact_credentials("s3://key:secret@bucket/a.jpg") == "s3://***@bucket/a.jpg"
    assert redact_credentials("/photos/me@home.jpg") == "/photos/me@home.jpg"
    assert is_remote("http://[::1/x.jpg") and not is_remote("1://x") and not is_remote("file://[::1/x")


def test_a_folder_with_a_name_that_is_not_utf8_is_scored(photo_dir: Path, colour_model, tmp_path: Path):
    """Arrow strings must be UTF-8: such a name (``caf\\xe9.jpg``) is kept as a ``file://`` URI with the
    byte percent-escaped, which the actor opens; `batch` used to crash on the folder before scoring."""
    (tmp_path / "coffee.jpg").write_bytes((photo_dir / "coffee.jpg").read_bytes())
    Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.jpg")).write_bytes((photo_dir / "rocket.jpg").read_bytes())
    photos = read_input(str(tmp_path))
    uri = f"file://{tmp_path}/caf%E9.jpg"
    assert photos.table.column("path").to_pylist() == [uri, str(tmp_path / "coffee.jpg")]
    scored = PhotoScorer([ModelBlob.read(colour_model())], threads=1)(photos.table).to_pylist()
    assert [(r["path"], r["image_id"], r["error"]) for r in scored] == [
        (uri, "caf%E9", None),
        (str(tmp_path / "coffee.jpg"), "coffee", None),
    ]


def test_a_fifo_in_a_manifest_keeps_its_row_error(photo_dir: Path, colour_model, tmp_path: Path):
    """A FIFO row used to block its actor forever (opening it waits for a writer)."""
    os.mkfifo(tmp_path / "pipe.jpg")
    batch = pa.table({"path": [str(tmp_path / "pipe.jpg"), str(photo_dir / "coffee.jpg")]})
    started = time.monotonic()
    scored = PhotoScorer([ModelBlob.read(colour_model())], threads=1)(batch).to_pylist()
    assert time.monotonic() - started < 10
    assert [r["error"] for r in scored] == ["not a regular file (a named pipe (FIFO)); refused", None]


def test_redirects_and_urls_to_link_local_metadata_addresses_are_refused(photo_server):
    """A photo server redirecting to 169.254.169.254 made batch fetch the cloud's metadata (credentials
    included) into a photo row; link-local addresses are refused unless their network is allowed."""
    fetcher = Fetcher(timeout=2, attempts=3)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"^refused to connect to 169\.254\.169\.254, a link-local address"):
        fetcher.fetch(f"{photo_server.url}/metadata-redirect/a.jpg")
    with pytest.raises(FetchError, match=r"^refused to connect to fe80::1"):
        fetcher.fetch("http://[fe80::1]/a.jpg")
    assert time.monotonic() - started < 1  # refused before connecting, and never tried again
    trusting = Fetcher(timeout=0.3, attempts=1, allow_networks=["169.254.0.0/16"])
    with pytest.raises(FetchError) as caught:
        trusting.fetch(f"{photo_server.url}/metadata-redirect/a.jpg")
    assert "refused" not in str(caught.value)  # it tried: no metadata service answers here
    assert fetcher.fetch(f"{photo_server.url}/photos/coffee.jpg")  # loopback and private networks are fine


def test_an_object_store_that_never_answers_times_out(monkeypatch):
    """An S3 endpoint that accepts connections and then says nothing held a read for good (pyarrow's
    default has no read timeout); reads now end after --timeout."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{silent.getsockname()[1]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    started = time.monotonic()
    with silent, pytest.raises(FetchError, match=r"Timeout was reached.*\(after 2 attempts\)"):
        Fetcher(timeout=0.5, attempts=2).fetch("s3://photos/a.jpg")
    assert time.monotonic() - started < 5
