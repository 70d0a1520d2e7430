"""photoscore: NIMA photo quality scoring, training and listing ranking."""

__version__ = "0.1.0"
