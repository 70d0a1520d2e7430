"""``python -m photoscore`` runs the command line."""

from photoscore.cli import app

app(prog_name="photoscore")
