"""Cross-checks against independent values: the sewar Q2n test vectors and the sewar package.

The sewar images and expected Q2n values live in ../shared/reference/sewar (README there);
sewar's q2n skips the reference uint16 cast, so the random cross-checks use integer-valued data.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from pansharpen.metrics.reduced import ergas, psnr, q2n, sam, ssim

sewar_full_ref = pytest.importorskip("sewar.full_ref", reason="sewar is a test dependency (pip install sewar)")
rasterio = pytest.importorskip("rasterio")


def read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path) as src:
            return src.read()  # (bands, rows, cols)


@pytest.mark.parametrize(
    "reference, fused, expected",
    [
        ("lena512color.tiff", "lena512color_noise.tiff", 0.255397),
        ("lena512gray.tiff", "lena512gray_noise.tiff", 0.349623),
        ("lena512gray.tiff", "lena512gray_constant.tiff", 0.562425),
    ],
)
def test_q2n_sewar_vectors(reference_dir, reference, fused, expected):
    folder = reference_dir / "sewar"
    ref, fus = read(folder / reference), read(folder / fused)
    assert ref.dtype == np.uint8 and ref.shape[1:] == (512, 512)
    assert q2n(ref, fus) == pytest.approx(expected, abs=1e-5)
    assert q2n(ref, ref) == pytest.approx(1.0, abs=1e-12)


def test_q2n_sewar_gray_as_2d_array(reference_dir):
    folder = reference_dir / "sewar"
    ref, fus = read(folder / "lena512gray.tiff")[0], read(folder / "lena512gray_noise.tiff")[0]
    assert ref.ndim == 2
    assert q2n(ref, fus) == pytest.approx(0.349623, abs=1e-5)


def hwc(x):
    return np.ascontiguousarray(x.transpose(1, 2, 0))


@pytest.mark.parametrize("bands, height, width", [(1, 64, 64), (2, 33, 70), (3, 45, 40), (4, 64, 96), (5, 40, 33), (8, 70, 45)])
def test_q2n_matches_sewar_on_integer_data(bands, height, width):
    rng = np.random.default_rng(bands * 100 + height)
    ref = rng.integers(0, 2048, (bands, height, width)).astype(np.float64)
    fus = np.clip(ref + rng.normal(0, 250, ref.shape), 0, 2047).round()
    expected = sewar_full_ref.q2n(hwc(ref), hwc(fus))
    assert q2n(ref, fus) == pytest.approx(expected, abs=1e-12)
    # float path on non-integer data: sewar never casts
    fus_float = fus + rng.uniform(-0.4, 0.4, fus.shape)
    assert q2n(ref, fus_float, uint16_cast=False) == pytest.approx(sewar_full_ref.q2n(hwc(ref), hwc(fus_float)), abs=1e-12)


def test_sam_and_ergas_match_sewar():
    rng = np.random.default_rng(1)
    ref = rng.uniform(1, 2047, (8, 40, 50))
    fus = np.abs(ref + rng.normal(0, 100, ref.shape))
    # sewar's sam is in radians
    assert sam(ref, fus) == pytest.approx(np.degrees(sewar_full_ref.sam(hwc(ref), hwc(fus))), rel=1e-12)
    # sewar's ergas takes r = h/l = 1/ratio
    assert ergas(ref, fus, ratio=4) == pytest.approx(sewar_full_ref.ergas(hwc(ref), hwc(fus), r=0.25), rel=1e-12)
    assert ergas(ref, fus, ratio=2) == pytest.approx(sewar_full_ref.ergas(hwc(ref), hwc(fus), r=0.5), rel=1e-12)


def test_psnr_and_ssim_extras_match_sewar():
    rng = np.random.default_rng(2)
    ref = rng.uniform(0, 1, (3, 40, 36))
    fus = np.clip(ref + rng.normal(0, 0.05, ref.shape), 0, 1)
    assert psnr(ref, fus, data_range=1.0) == pytest.approx(sewar_full_ref.psnr(hwc(ref), hwc(fus), MAX=1.0), rel=1e-12)
    gaussian = dict(fltr=sewar_full_ref.Filter.GAUSSIAN, ws=11, sigma=1.5)
    expected, _ = sewar_full_ref.ssim(hwc(ref), hwc(fus), MAX=1.0, fltr_specs=gaussian, mode="valid")
    assert ssim(ref, fus, data_range=1.0) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("block_size, shift", [(32, 16), (16, 16), (8, 4)])
def test_q2n_overlapping_blocks_match_sewar(block_size, shift):
    rng = np.random.default_rng(block_size + shift)
    ref = rng.integers(0, 2048, (4, 50, 45)).astype(np.float64)
    fus = np.clip(ref + rng.normal(0, 250, ref.shape), 0, 2047).round()
    expected = sewar_full_ref.q2n(hwc(ref), hwc(fus), ws=block_size, stride=shift)
    assert q2n(ref, fus, block_size, shift) == pytest.approx(expected, abs=1e-12)
