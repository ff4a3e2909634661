"""Shared fixtures. ``shared_dir`` is the project's ``../shared`` folder (reference vectors,
checkpoints, papers); tests that need it skip with a reason only where it is absent.
Set ``PANSHARPEN_SHARED`` to point elsewhere."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PANSHARPEN_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared folder {SHARED} is absent (reference vectors live there; set PANSHARPEN_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def reference_dir(shared_dir: Path) -> Path:
    return shared_dir / "reference"


@pytest.fixture(scope="session")
def checkpoints_dir(shared_dir: Path) -> Path:
    return shared_dir / "checkpoints"


@pytest.fixture
def one_thread():
    """One torch intra-op thread for the test: small convolutions run slower with two threads
    spinning against other jobs on a shared CPU."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
