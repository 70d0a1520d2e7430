"""Review results as records: one per photo (JSON, JSON Lines or CSV) and one per listing.

A photo's record is ``photoscore score``'s record with the listing columns of ``rank`` (``normalized_score``,
``rank``, ``group``) and the review's own: ``position`` (the order to show), ``cover``, ``room``, each
check's value, threshold and verdict, ``reasons`` (what a host can do), ``tied_with`` and ``duplicate_of``
(paths of the other photos), ``phash``. In CSV a check is three columns, ``<check>.value``,
``<check>.threshold`` and ``<check>.verdict``, and lists are JSON in one cell.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from photoscore.review.results import ListingReview, PhotoReview
from photoscore.scoring.output import csv_cell, result_record
from photoscore.scoring.results import DECIMALS

FORMATS = (".json", ".jsonl", ".csv")


def photo_record(review: PhotoReview, model_names: Sequence[str], paths: dict[int, str]) -> dict[str, Any]:
    """One photo's record; ``paths`` maps input indices to paths, for ties and duplicates."""
    record = result_record(review.result, model_names, ranked=True)
    error = record.pop("error")
    width, height = review.size or (None, None)
    record.update(
        position=review.position,
        cover=review.cover,
        room=review.room,
        room_probability=_round(review.room_probability),
        width=width,
        height=height,
        checks={
            c.name: {"value": _round(c.value), "threshold": c.threshold, "unit": c.unit, "verdict": c.verdict}
            for c in review.checks
        },
        failed_checks=[c.name for c in review.failed],
        reasons=review.reasons,
        tied_with=[paths[i] for i in review.tied_with],
        duplicate_of=None if review.duplicate_of is None else paths[review.duplicate_of],
        phash=review.phash,
        error=error,
    )
    return record


def listing_record(listing: ListingReview, paths: dict[int, str]) -> dict[str, Any]:
    """One listing's decision: cover, order, the preset's verdicts, missing rooms, duplicates."""
    return {
        "listing": listing.listing,
        "preset": listing.preset,
        "photos": len(listing.photos),
        "acceptable_photos": listing.acceptable_photos,
        "min_photos": listing.min_photos,
        "cover": listing.cover.result.path if listing.cover else None,
        "cover_note": listing.cover_note,
        "order": [p.result.path for p in listing.photos if p.position is not None],
        "rooms_shown": listing.rooms_shown,
        "missing_rooms": listing.missing_rooms,
        "duplicates": [
            {
                "keep": paths[group.keep],
                "copies": [paths[i] for i in group.others],
                "exact": group.exact,
                "pairs": [
                    {
                        "photos": [paths[p.first], paths[p.second]],
                        "kind": p.kind,
                        "hash_distance": p.hash_distance,
                        "similarity": _round(p.similarity),
                    }
                    for p in group.pairs
                ],
            }
            for group in listing.duplicates
        ],
        "tie_band": listing.tie_band,
        "verdicts": listing.verdicts,
    }


def write_records(stream: TextIO, suffix: str, records: Iterable[dict[str, Any]]) -> None:
    """Records as a JSON list (``.json``), JSON Lines (``.jsonl``) or CSV (``.csv``, nested values
    flattened: see the module docstring)."""
    rows = list(records)
    if suffix == ".json":
        json.dump(rows, stream, ensure_ascii=False, indent=1)
        stream.write("\n")
    elif suffix == ".jsonl":
        stream.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    elif suffix == ".csv":
        flat = [_flatten(row) for row in rows]
        columns = list(dict.fromkeys(key for row in flat for key in row))
        writer = csv.DictWriter(stream, fieldnames=columns)
        writer.writerow({c: csv_cell(c) for c in columns})
        writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in flat)
    else:
        raise ValueError(f"unknown output format {suffix!r}; use {', '.join(FORMATS)}")


def listings_path(output: Path) -> Path:
    """Where the listing records go beside ``output``: ``reviews.csv`` -> ``reviews.listings.csv``."""
    return output.with_name(f"{output.stem}.listings{output.suffix}")


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    """One CSV row: checks as ``<name>.value|threshold|verdict``, models as ``<name>.mean|std``, verdicts
    as ``verdict.<rule>``, other lists and objects as JSON."""
    row: dict[str, Any] = {}
    for key, value in record.items():
        if key == "checks":
            for name, check in value.items():
                for field in ("value", "threshold", "verdict"):
                    row[f"{name}.{field}"] = check[field]
        elif key == "models":
            for name, scores in value.items():
                row[f"{name}.mean"], row[f"{name}.std"] = scores["mean"], scores["std"]
        elif key == "verdicts":
            row.update({f"verdict.{rule}": verdict for rule, verdict in value.items()})
        elif key == "reasons":
            row[key] = " | ".join(value)
        elif isinstance(value, list | dict):
            row[key] = json.dumps(value, ensure_ascii=False)
        else:
            row[key] = value
    return row


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, DECIMALS)
