"""JSON and CSV writers keep the output contract."""

from __future__ import annotations

import csv
import io
import json

from photoscore.scoring.output import CsvWriter, JsonLinesWriter, JsonListWriter
from photoscore.scoring.results import ModelScore, ScoreResult

GOOD = ScoreResult(
    image_id="a",
    path="/p/a.jpg",
    mean_score_prediction=5.1234567,
    std_score_prediction=1.5,
    distribution=[0.1] * 10,
    models={"m1": ModelScore(5.0, 1.4), "m2": ModelScore(5.2468, 1.6)},
)
BAD = ScoreResult(image_id="b", path="/p/b.jpg", error="not an image")


def test_json_list_streams_records():
    stream = io.StringIO()
    writer = JsonListWriter(stream, ["m1"])
    writer.write(GOOD)
    writer.write(BAD)
    writer.close()
    records = json.loads(stream.getvalue())
    assert [r["image_id"] for r in records] == ["a", "b"]
    assert list(records[0]) == [
        "image_id",
        "path",
        "mean_score_prediction",
        "std_score_prediction",
        "distribution",
        "error",
    ]
    assert records[0]["mean_score_prediction"] == 5.123457
    assert records[1] == {
        "image_id": "b",
        "path": "/p/b.jpg",
        "mean_score_prediction": None,
        "std_score_prediction": None,
        "distribution": None,
        "error": "not an image",
    }


def test_json_empty_and_models_field():
    stream = io.StringIO()
    JsonListWriter(stream, ["m1"]).close()
    assert json.loads(stream.getvalue()) == []
    stream = io.StringIO()
    writer = JsonListWriter(stream, ["m1", "m2"])
    writer.write(GOOD)
    writer.close()
    assert json.loads(stream.getvalue())[0]["models"] == {
        "m1": {"mean": 5.0, "std": 1.4},
        "m2": {"mean": 5.2468, "std": 1.6},
    }


def test_csv_has_same_columns_and_per_model_columns():
    stream = io.StringIO()
    writer = CsvWriter(stream, ["m1", "m2"])
    writer.write(GOOD)
    writer.write(BAD)
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert list(rows[0]) == [
        "image_id",
        "path",
        "mean_score_prediction",
        "std_score_prediction",
        "distribution",
        "m1.mean",
        "m1.std",
        "m2.mean",
        "m2.std",
        "error",
    ]
    assert json.loads(rows[0]["distribution"]) == [0.1] * 10
    assert float(rows[0]["m2.mean"]) == 5.2468
    assert rows[1]["error"] == "not an image" and rows[1]["mean_score_prediction"] == ""


def test_json_lines_one_record_per_line():
    stream = io.StringIO()
    writer = JsonLinesWriter(stream, ["m1"])
    writer.write(GOOD)
    writer.write(ScoreResult(image_id="c", path="/p/two\nlines.jpg", error="not an image"))
    writer.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert [json.loads(line)["path"] for line in lines] == ["/p/a.jpg", "/p/two\nlines.jpg"]
    assert json.loads(lines[0])["mean_score_prediction"] == 5.123457


def test_csv_escapes_formula_text_but_not_numbers():
    stream = io.StringIO()
    writer = CsvWriter(stream, ["=m1", "m2"], ranked=True)
    hostile = ScoreResult(
        image_id="=cmd|calc!A1",
        path="=cmd|calc!A1.jpg",
        mean_score_prediction=5.0,
        std_score_prediction=1.0,
        distribution=[0.1] * 10,
        models={"=m1": ModelScore(5.0, 1.0), "m2": ModelScore(5.0, 1.0)},
        normalized_score=-0.5,
        rank=1,
        group="@group",
    )
    writer.write(hostile)
    writer.write(ScoreResult(image_id="+x", path="-x.jpg", error="-bad"))
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert list(rows[0])[5:7] == ["'=m1.mean", "'=m1.std"]
    assert (rows[0]["image_id"], rows[0]["path"], rows[0]["group"]) == (
        "'=cmd|calc!A1",
        "'=cmd|calc!A1.jpg",
        "'@group",
    )
    assert rows[0]["normalized_score"] == "-0.5" and rows[0]["'=m1.mean"] == "5.0"
    assert (rows[1]["image_id"], rows[1]["path"], rows[1]["error"]) == ("'+x", "'-x.jpg", "'-bad")
