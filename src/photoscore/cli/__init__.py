"""The command line face: ``photoscore`` (a Typer app) and the original project's ``./train-local``
and ``./predict``. It only calls the core; nothing in the core imports it."""

from photoscore.cli.main import app

__all__ = ["app"]
