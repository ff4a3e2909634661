"""Hyperspectral simulator: blur + decimation, spectral degradation, layouts, bad input, ENVI rasters."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from pansharpen.errors import ShapeError, ValueRangeError
from pansharpen.protocol.hyperspectral import (
    blur_decimate,
    gaussian_kernel_1d,
    mtf_matched_sigma,
    simulate_hisr,
    simulate_hs_pansharpening,
)

CENTRES = np.linspace(400.0, 1000.0, 12)


def _cube(n=None, bands=12, size=32, seed=0):
    rng = np.random.default_rng(seed)
    shape = (bands, size, size) if n is None else (n, bands, size, size)
    return rng.uniform(100, 2000, shape)


def test_default_sigma_gives_gain_03_at_nyquist():
    # independent check: the DTFT of the sampled kernel at f = 1/(2 R) cycles/pixel
    for ratio in (2, 4, 6):
        g = gaussian_kernel_1d(mtf_matched_sigma(ratio))
        t = np.arange(g.size) - g.size // 2
        gain = abs((g * np.exp(-2j * np.pi * t / (2 * ratio))).sum())
        assert gain == pytest.approx(0.3, abs=2e-3)
    assert mtf_matched_sigma(4) == pytest.approx(1.9758, abs=1e-4)


def test_blur_decimate_matches_scipy_gaussian_filter():
    cube = _cube()
    expected = ndimage.gaussian_filter(cube, sigma=(0, 2.0, 2.0), mode="nearest", truncate=3.0)[:, 2::4, 2::4]
    np.testing.assert_allclose(blur_decimate(cube, 4, sigma=2.0), expected, rtol=1e-12)


def test_blur_decimate_phase_and_constants():
    cube = _cube()
    np.testing.assert_allclose(blur_decimate(cube, 4, sigma=0.05), cube[:, 2::4, 2::4], rtol=1e-9)
    flat = np.full((3, 16, 16), 7.0)
    np.testing.assert_allclose(blur_decimate(flat, 2), 7.0)
    t = blur_decimate(torch.from_numpy(_cube(n=2)).float(), 4)
    assert isinstance(t, torch.Tensor) and t.shape == (2, 12, 8, 8) and t.dtype == torch.float32


def test_hs_pansharpening_layout_and_pan_by_hand():
    cube = _cube()
    out = simulate_hs_pansharpening(cube, 4, "wv3-pan", CENTRES)
    assert list(out) == ["GT", "MS", "LMS", "PAN"]
    assert out["MS"].shape == (12, 8, 8) and out["LMS"].shape == (12, 32, 32) and out["PAN"].shape == (1, 32, 32)
    inside = (CENTRES >= 450) & (CENTRES <= 800)  # no centre falls on the 10 nm shoulders
    np.testing.assert_allclose(out["PAN"][0], cube[inside].mean(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(out["GT"], cube)
    lower = simulate_hs_pansharpening(_cube(n=2), 4, np.ones((1, 12)), keys="lower")
    assert sorted(lower) == ["gt", "lms", "ms", "pan"] and lower["pan"].shape == (2, 1, 32, 32)


def test_lms_puts_samples_back_on_the_decimation_phase():
    # interp23tap reproduces the LR samples at offset ratio//2: LMS[..., 2::4, 2::4] == MS
    out = simulate_hs_pansharpening(_cube(), 4, np.ones((1, 12)))
    np.testing.assert_allclose(out["LMS"][:, 2::4, 2::4], out["MS"], rtol=1e-9)


def test_hisr_layout():
    cube = _cube()
    out = simulate_hisr(cube, 4, "rgb", CENTRES, with_lms=True)
    assert sorted(out) == ["GT", "LMS", "LRHSI", "RGB"] and out["RGB"].shape == (3, 32, 32)
    ms = simulate_hisr(cube, 4, "wv3-vnir", CENTRES)
    assert "HRMSI" in ms and ms["HRMSI"].shape == (8, 32, 32)


def test_size_not_multiple_of_ratio():
    with pytest.raises(ShapeError, match="not a multiple of ratio 4"):
        simulate_hs_pansharpening(_cube(size=30), 4, np.ones((1, 12)))
    with pytest.raises(ShapeError, match="multiple of ratio 3"):
        blur_decimate(_cube(), 3)


def test_band_count_mismatch_between_cube_and_response():
    with pytest.raises(ShapeError, match="the cube has 12 bands"):
        simulate_hs_pansharpening(_cube(), 4, np.ones((1, 10)))
    with pytest.raises(ShapeError, match="12 bands"):
        simulate_hisr(_cube(), 4, "rgb", CENTRES[:10])


def test_response_rows_must_sum_positive():
    r = np.ones((3, 12))
    r[1] = 0
    with pytest.raises(ValueRangeError, match="positive total response"):
        simulate_hisr(_cube(), 4, r)


def test_pan_response_must_have_one_row():
    with pytest.raises(ShapeError, match="one output band"):
        simulate_hs_pansharpening(_cube(), 4, "rgb", CENTRES)


@pytest.mark.parametrize("ratio", [0, -2, 2.5, True])
def test_bad_ratio(ratio):
    with pytest.raises(ValueRangeError, match="ratio"):
        blur_decimate(_cube(), ratio)


def test_bad_values_and_shapes():
    cube = _cube()
    cube[3, 1, 1] = np.nan
    with pytest.raises(ValueRangeError, match="NaN"):
        simulate_hisr(cube, 4, np.ones((3, 12)))
    with pytest.raises(ShapeError, match=r"\(L, H, W\)"):
        blur_decimate(np.zeros((32, 32)), 4)
    with pytest.raises(ValueRangeError, match="sigma"):
        blur_decimate(_cube(), 4, sigma=-1.0)
    with pytest.raises(ValueRangeError, match="keys"):
        simulate_hs_pansharpening(_cube(), 4, np.ones((1, 12)), keys="mixed")


def test_envi_cube_through_rasterio(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    from pansharpen.io.raster import read_image

    cube = _cube(size=32).astype(np.float32)
    path = tmp_path / "cube.img"
    with rasterio.open(path, "w", driver="ENVI", width=32, height=32, count=12, dtype="float32",
                       crs="EPSG:32613", transform=from_origin(487000, 4443000, 1.2, 1.2)) as ds:
        ds.write(cube)
    read, meta = read_image(path)
    np.testing.assert_array_equal(read, cube)
    out = simulate_hs_pansharpening(read, 4, "wv3-pan", CENTRES)
    assert out["MS"].shape == (12, 8, 8)
