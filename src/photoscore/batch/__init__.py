"""The batch face: score millions of photos on a Ray cluster (needs ``photoscore[ray]``).

- :func:`score_dataset`: a ``ray.data.Dataset`` of photo locations -> the same rows with their scores,
  for pipelines of your own.
- :func:`review_dataset`: the same with the review's per-photo columns (room, checks, reasons, pHash,
  embedding).
- :func:`catalogue_duplicates`: reviewed photos -> pairs of photos reused across listings (no n x n);
  :func:`duplicate_counts` per listing.
- :func:`run_job`: the resumable job behind ``photoscore batch`` (folder or manifest -> Parquet dataset).
"""

from photoscore.batch.catalogue import Buckets, catalogue_duplicates, duplicate_counts
from photoscore.batch.job import BatchJob, JobOptions, JobReport, run_job
from photoscore.batch.photos import PhotoScorer, score_dataset
from photoscore.batch.reviewing import PhotoReviewer, review_dataset

__all__ = [
    "BatchJob",
    "Buckets",
    "JobOptions",
    "JobReport",
    "PhotoReviewer",
    "PhotoScorer",
    "catalogue_duplicates",
    "duplicate_counts",
    "review_dataset",
    "run_job",
    "score_dataset",
]
