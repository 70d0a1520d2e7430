"""Process set-up for training: device choice, seeds, and the CPU allocator fix."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import random

import numpy as np
import torch

logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def keep_freed_memory() -> bool:
    """Stop glibc from handing freed memory back to the OS after every forward pass.

    On CPU, torch allocates and frees large activation buffers each step; glibc's default trims and
    unmaps them every time, which made eager training several times slower on the target machine. Returns
    whether the setting was applied (only on glibc).
    """
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    try:
        libc = ctypes.CDLL(libc_name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))


def pick_device(requested: str) -> torch.device:
    """``auto``: CUDA when present, else CPU."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for, but torch sees no CUDA device")
    return torch.device(requested)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch; returns a generator for data shuffling."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
