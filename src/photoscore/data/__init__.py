"""Data preparation: AVA files and mean opinion scores to label files."""
