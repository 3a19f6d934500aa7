"""Shared test settings: fixed threads so float results are reproducible."""

import torch

torch.set_num_threads(1)
