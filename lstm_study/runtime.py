"""Reproducibility and device selection shared by chapters, training and the CLI."""

from __future__ import annotations

import random

import numpy as np
import torch

from lstm_study.errors import ConfigError


def seed_everything(seed: int = 0, threads: int | None = 1) -> torch.Generator:
    """Seed ``random``, NumPy and PyTorch, fix the thread count, return a seeded generator.

    A fixed thread count matters: CPU kernels split reductions by thread, so a
    different count changes results in the last few bits. The default is one thread: the
    book's models are small, a second thread costs more in synchronisation than it saves,
    and on a machine busy with other work two threads waiting on each other slow training
    down several times over.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads is not None:
        torch.set_num_threads(threads)
    return torch.Generator().manual_seed(seed)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"`` or ``"cuda"`` into a device, refusing CUDA where there is none."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {device!r} was asked for but PyTorch sees no CUDA GPU here; "
                "use device='auto' or 'cpu'"
            )
        return torch.device(device)
    raise ConfigError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda'")


def available_memory() -> int | None:
    """Bytes of memory the system can still give (``MemAvailable``, Linux); None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
