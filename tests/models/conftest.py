"""Shared by the model tests: one torch thread (small convolutions are slower with two spinning
threads on a shared CPU)."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
