"""Score results as JSON lists, JSON Lines or CSV, written as they stream in."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from typing import Any, TextIO

from photoscore.scoring.results import DECIMALS, ScoreResult

BASE_COLUMNS = ("image_id", "path", "mean_score_prediction", "std_score_prediction", "distribution")
RANK_COLUMNS = ("normalized_score", "rank", "group")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def result_record(result: ScoreResult, model_names: Sequence[str], ranked: bool = False) -> dict[str, Any]:
    """The output contract for one photo; ``models`` appears when more than one model scored it, and
    ``normalized_score``, ``rank`` and ``group`` when ``ranked``."""
    record: dict[str, Any] = {
        "image_id": result.image_id,
        "path": result.path,
        "mean_score_prediction": _round(result.mean_score_prediction),
        "std_score_prediction": _round(result.std_score_prediction),
        "distribution": None if result.distribution is None else [_round(p) for p in result.distribution],
    }
    if len(model_names) > 1:
        record["models"] = {
            name: {"mean": _round(s.mean), "std": _round(s.std)} for name, s in result.models.items()
        }
    if ranked:
        record.update(normalized_score=_round(result.normalized_score), rank=result.rank, group=result.group)
    record["error"] = result.error
    return record


class JsonListWriter:
    """Writes a JSON list one record at a time, so nothing is held in memory."""

    def __init__(self, stream: TextIO, model_names: Sequence[str], ranked: bool = False):
        self.stream = stream
        self.model_names = model_names
        self.ranked = ranked
        self.count = 0

    def write(self, result: ScoreResult) -> None:
        prefix = "[\n  " if self.count == 0 else ",\n  "
        record = result_record(result, self.model_names, self.ranked)
        self.stream.write(prefix + json.dumps(record, ensure_ascii=False))
        self.count += 1

    def close(self) -> None:
        self.stream.write("\n]\n" if self.count else "[]\n")
        self.stream.flush()


class JsonLinesWriter:
    """Writes one JSON record per line (JSON Lines): each line stands alone, so a stream can be read as
    it grows and a cut-off file loses only its last line."""

    def __init__(self, stream: TextIO, model_names: Sequence[str], ranked: bool = False):
        self.stream = stream
        self.model_names = model_names
        self.ranked = ranked

    def write(self, result: ScoreResult) -> None:
        record = result_record(result, self.model_names, self.ranked)
        self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.stream.flush()


class CsvWriter:
    """Writes the same columns as JSON; ``distribution`` is a JSON list in one cell, and with several
    models each gets ``<name>.mean`` and ``<name>.std`` columns.

    Text cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab
    or a carriage return) get a leading ``'``; numbers are written as they are."""

    def __init__(self, stream: TextIO, model_names: Sequence[str], ranked: bool = False):
        self.stream = stream
        self.model_names = model_names
        self.ranked = ranked
        per_model = [f"{n}.{k}" for n in model_names for k in ("mean", "std")] if len(model_names) > 1 else []
        ranks = RANK_COLUMNS if ranked else ()
        columns = [*BASE_COLUMNS, *per_model, *ranks, "error"]
        self.writer = csv.DictWriter(stream, fieldnames=columns)
        self.writer.writerow({c: csv_cell(c) for c in columns})

    def write(self, result: ScoreResult) -> None:
        record = result_record(result, self.model_names, self.ranked)
        row = {k: v for k, v in record.items() if k != "models"}
        if row["distribution"] is not None:
            row["distribution"] = json.dumps(row["distribution"])
        for name, scores in record.get("models", {}).items():
            row[f"{name}.mean"], row[f"{name}.std"] = scores["mean"], scores["std"]
        self.writer.writerow({k: csv_cell(v) for k, v in row.items()})

    def close(self) -> None:
        self.stream.flush()


WRITERS = {".json": JsonListWriter, ".jsonl": JsonLinesWriter, ".csv": CsvWriter}


def csv_cell(value: Any) -> Any:
    """``value`` as a CSV cell: text that a spreadsheet would run as a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _round(value: float | None) -> float | None:
    """A score as written: rounded to DECIMALS; null when it is not a finite number (JSON has no NaN)."""
    return None if value is None or not math.isfinite(value) else round(value, DECIMALS)
