"""The listing review: what each photo shows, what is wrong with it and how to fix it, duplicates, and
a cover a platform would accept. Core: numpy, Pillow and ONNX Runtime (OpenCV for tilt), never a face."""
