"""Data: dataset files as tensors (splits, standardization, torch views) and imports of
image-classification sets."""
