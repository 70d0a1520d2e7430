"""What a batch job reads and refuses before any Ray starts: folders, manifests, job folders, options."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyarrow")

import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from photoscore.batch.inputs import InputError, read_input
from photoscore.batch.job import BatchJob, JobError, JobOptions
from photoscore.cli import app

from conftest import REPO, write_colour_model


def test_a_folder_lists_photos_as_score_finds_them(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    for name in ("b.jpg", "a.JPG", "sub/c.png", ".hidden.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    flat = read_input(str(tmp_path))
    assert flat.table.column("path").to_pylist() == [str(tmp_path / "a.JPG"), str(tmp_path / "b.jpg")]
    deep = read_input(str(tmp_path), recursive=True)
    assert deep.table.column("path").to_pylist()[-1] == str(tmp_path / "sub" / "c.png")
    assert deep.table.column("input_row").to_pylist() == [0, 1, 2]
    assert deep.fingerprint != flat.fingerprint


def test_a_manifest_keeps_its_columns_and_resolves_paths(tmp_path: Path):
    manifest = tmp_path / "jobs" / "m.csv"
    manifest.parent.mkdir()
    manifest.write_text(
        "listing,photo,price\n007,a.jpg,10\n007,/abs/b.jpg,11\n8,s3://bucket/c.jpg,12\n9, ,13\n"
    )
    photos = read_input(str(manifest), path_column="photo", listing_column="listing")
    table = photos.table
    assert table.column("listing").to_pylist() == ["007", "007", "8", "9"]  # ids stay text
    assert table.column("price").to_pylist() == [10, 11, 12, 13]
    assert table.column("photo").to_pylist() == ["a.jpg", "/abs/b.jpg", "s3://bucket/c.jpg", " "]
    assert table.column("path").to_pylist() == [
        str(manifest.parent / "a.jpg"),
        "/abs/b.jpg",
        "s3://bucket/c.jpg",
        " ",
    ]
    parquet = tmp_path / "m.parquet"
    pq.write_table(pa.table({"path": ["x.jpg"], "sku": [1]}), parquet)
    assert read_input(str(parquet)).table.column("path").to_pylist() == [str(tmp_path / "x.jpg")]


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        ("path\na.jpg\n", {"listing_column": "listing"}, "no column 'listing'"),
        ("photo\na.jpg\n", {}, "no column 'path'"),
        ("path,rank\na.jpg,1\n", {}, "rank would be overwritten"),
        ("path\n", {}, "no photos found"),
    ],
)
def test_bad_manifests_are_named_with_the_reason(tmp_path: Path, text, options, message):
    manifest = tmp_path / "m.csv"
    manifest.write_text(text)
    with pytest.raises(InputError, match=message):
        read_input(str(manifest), **options)
    with pytest.raises(InputError, match="manifest not found"):
        read_input(str(tmp_path / "absent.csv"))
    with pytest.raises(InputError, match="needs a manifest"):
        read_input(str(tmp_path), listing_column="listing")


def test_an_output_folder_belongs_to_one_job(tmp_path: Path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(REPO / "examples" / "coffee.jpg", photos)
    model = write_colour_model(tmp_path / "m.onnx")
    out = tmp_path / "out"
    BatchJob.prepare(str(photos), str(out), [model], JobOptions())
    assert (out / "_photoscore_batch.json").is_file()
    BatchJob.prepare(str(photos), str(out), [model], JobOptions(batch_size=8, actors=3))  # speed only
    other = write_colour_model(tmp_path / "other.onnx", seed=5)
    with pytest.raises(JobError, match="other models"):
        BatchJob.prepare(str(photos), str(out), [other], JobOptions())
    shutil.copy(REPO / "examples" / "rocket.jpg", photos)
    with pytest.raises(JobError, match="other photos, fingerprint"):
        BatchJob.prepare(str(photos), str(out), [model], JobOptions())
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "part-000000.parquet").write_bytes(b"")
    with pytest.raises(JobError, match="no photoscore batch job"):
        BatchJob.prepare(str(photos), str(stray), [model], JobOptions())


def test_the_command_refuses_before_starting_ray(tmp_path: Path):
    runner = CliRunner()
    result = runner.invoke(
        app, ["batch", str(tmp_path), "--out", str(tmp_path / "o"), "--normalize", "minmax"]
    )
    assert result.exit_code == 2 and "give --listing-column" in result.stderr
    result = runner.invoke(app, ["batch", str(tmp_path / "absent"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "absent" in result.stderr


def test_the_command_line_loads_without_ray():
    """`photoscore score` (and every command but `batch` at run time) never imports Ray or pyarrow."""
    code = "import sys, photoscore.cli; print(sorted({'ray', 'pyarrow'} & {m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_a_rerun_with_a_changed_pass_through_column_is_refused_naming_it(tmp_path: Path):
    """The fingerprint used to cover only paths and listings: a rerun after a price changed mixed old and
    new values in one dataset, and a changed type made it unreadable. Every column is pinned now."""
    shutil.copy(REPO / "examples" / "coffee.jpg", tmp_path)
    shutil.copy(REPO / "examples" / "rocket.jpg", tmp_path)
    model = write_colour_model(tmp_path / "m.onnx")
    manifest, out = tmp_path / "photos.csv", str(tmp_path / "out")
    manifest.write_text("path,listing,price\ncoffee.jpg,a,100\nrocket.jpg,a,200\n")
    options = JobOptions(listing_column="listing")
    BatchJob.prepare(str(manifest), out, [model], options)
    BatchJob.prepare(str(manifest), out, [model], options)  # the same input: accepted
    manifest.write_text("path,listing,price\ncoffee.jpg,a,100\nrocket.jpg,a,250\n")
    with pytest.raises(JobError, match=r"other input column\(s\) price \(values changed\): a rerun"):
        BatchJob.prepare(str(manifest), out, [model], options)
    manifest.write_text("path,listing,price,note\ncoffee.jpg,a,cheap,x\nrocket.jpg,a,200,y\n")
    with pytest.raises(JobError, match=r"input column\(s\) price \(type changed\), note \(added\)"):
        BatchJob.prepare(str(manifest), out, [model], options)


def test_an_unusable_out_is_refused_at_the_start_with_the_reason(tmp_path: Path):
    """`--out photos/` (a folder of other files) used to run the whole job and then crash in the summary,
    leaving a dataset nothing could read; a file or a place that cannot be written gave tracebacks."""
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(REPO / "examples" / "coffee.jpg", photos)
    model = write_colour_model(tmp_path / "m.onnx")
    with pytest.raises(
        JobError, match=r"photos already holds files of no photoscore batch job \(coffee.jpg\)"
    ):
        BatchJob.prepare(str(photos), str(photos), [model], JobOptions())
    with pytest.raises(JobError, match=r"m.onnx is a file: --out needs a folder"):
        BatchJob.prepare(str(photos), str(tmp_path / "m.onnx"), [model], JobOptions())
    with pytest.raises(JobError, match=r"m.onnx/out: cannot use it as --out"):
        BatchJob.prepare(str(photos), str(tmp_path / "m.onnx" / "out"), [model], JobOptions())
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "_photoscore_batch.json").write_text("{not json")
    with pytest.raises(JobError, match="not a photoscore batch job file"):
        BatchJob.prepare(str(photos), str(tmp_path / "bad"), [model], JobOptions())
    result = CliRunner().invoke(app, ["batch", str(photos), "--out", str(photos), "-m", str(model)])
    assert result.exit_code == 2 and "--out needs a new or empty folder" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_manifest_with_a_column_twice_is_refused(tmp_path: Path):
    (tmp_path / "m.csv").write_text("path,path,listing\na.jpg,b.jpg,x\n")
    with pytest.raises(InputError, match=r"column\(s\) path appear more than once; keep one of each"):
        read_input(str(tmp_path / "m.csv"))
