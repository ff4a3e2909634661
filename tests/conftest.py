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


@pytest.fixture
def small_tif():
    """``small_tif(path, bands=4, tags=None, descriptions=None, nbits=None)``: an 8 x 8 uint16 GeoTIFF
    (2 m pixels, EPSG:32633) carrying the given metadata tags, band descriptions and NBITS."""
    import numpy as np
    import rasterio
    from affine import Affine

    def write(path, bands=4, tags=None, descriptions=None, nbits=None):
        profile = dict(driver="GTiff", width=8, height=8, count=bands, dtype="uint16", crs="EPSG:32633",
                       transform=Affine(2.0, 0, 500000, 0, -2.0, 4500000))
        if nbits:
            profile["nbits"] = nbits
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(np.ones((bands, 8, 8), dtype="uint16"))
            if tags:
                dst.update_tags(**tags)
            for i, d in enumerate(descriptions or (), start=1):
                dst.set_band_description(i, d)
        return path

    return write
