"""The batch face: score millions of photos on a Ray cluster (needs ``photoscore[ray]``).

- :func:`score_dataset`: a ``ray.data.Dataset`` of photo locations -> the same rows with their scores,
  for pipelines of your own.
- :func:`run_job`: the resumable job behind ``photoscore batch`` (folder or manifest -> Parquet dataset).
"""

from photoscore.batch.job import BatchJob, JobOptions, JobReport, run_job
from photoscore.batch.photos import PhotoScorer, score_dataset

__all__ = ["BatchJob", "JobOptions", "JobReport", "PhotoScorer", "run_job", "score_dataset"]
