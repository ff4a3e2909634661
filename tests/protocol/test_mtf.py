"""MTF-matched kernels and filtering against the facts of metrics-reference sections 3.1 and 4.4."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import correlate

from pansharpen.errors import ShapeError, ValueRangeError
from pansharpen.protocol import get_sensor
from pansharpen.protocol.mtf import mtf_filter, mtf_filter_pan, mtf_kernel, mtf_kernels


def frequency_response(kernel: np.ndarray, fx: float, fy: float = 0.0) -> complex:
    """DTFT of a centred kernel at (fy, fx) cycles per pixel, computed directly."""
    n = kernel.shape[0]
    r = np.arange(n) - (n - 1) / 2
    phase = np.exp(-2j * np.pi * (fy * r[:, None] + fx * r[None, :]))
    return complex((kernel * phase).sum())


def test_kernel_shape_dtype_and_symmetry():
    h = mtf_kernel(0.3)
    assert h.shape == (41, 41) and h.dtype == np.float64
    np.testing.assert_allclose(h, h.T, atol=1e-17)
    np.testing.assert_allclose(h, h[::-1, ::-1], atol=1e-17)
    np.testing.assert_allclose(h, h[:, ::-1], atol=1e-17)
    assert h[20, 20] == h.max()
    # Huang's circular window is zero beyond radius 20 px: the corners are exactly 0
    assert h[0, 0] == 0 and h[3, 3] == 0 and h[40, 1] == 0
    assert h[20, 0] != 0  # on the radius: window = kaiser end value


@pytest.mark.parametrize(
    "gain, expected_sum",
    [(0.325, 0.9988), (0.315, 0.9988), (0.22, 0.9984), (0.14, 0.9980)],  # WV3 MS, QB NIR, WV3 PAN
)
def test_kernel_sum_matches_reference_dc_gain(gain, expected_sum):
    # the 2020 toolbox does not renormalise: the DC gain is 0.9977-0.9989, not 1
    assert mtf_kernel(gain).sum() == pytest.approx(expected_sum, abs=1e-4)


def test_all_builtin_sensor_kernels_have_reference_dc_range():
    for name in ["QB", "IKONOS", "GeoEye1", "WV2", "WV3", "WV4", "GF2"]:
        sensor = get_sensor(name)
        sums = mtf_kernels(sensor.ms_gnyq).sum(axis=(1, 2))
        assert np.all((sums > 0.9977) & (sums < 0.9990)), (name, sums)
        assert 0.9977 < mtf_kernel(sensor.pan_gnyq).sum() < 0.9990


@pytest.mark.parametrize("gain", [0.34, 0.22, 0.325, 0.15, 0.27])
def test_realised_nyquist_gain_is_g_to_1_05(gain):
    # the design places G at DFT index (N-1)/8 while 1/8 cycle/px is index 41/8: realised G**1.0506
    response = frequency_response(mtf_kernel(gain), 1 / 8)
    assert abs(response.imag) < 1e-12
    exponent = np.log(response.real) / np.log(gain)
    assert 1.045 < exponent < 1.056
    assert response.real == pytest.approx(gain**1.0506, rel=2e-3)


def test_nyquist_follows_ratio():
    # ratio 2: MS Nyquist is 1/4 cycle/px
    response = frequency_response(mtf_kernel(0.3, ratio=2), 1 / 4).real
    assert 1.04 < np.log(response) / np.log(0.3) < 1.06


def test_kernel_is_nearly_circular():
    h = mtf_kernel(0.3)
    along_axis = frequency_response(h, 0.1).real
    diagonal = frequency_response(h, 0.1 / np.sqrt(2), 0.1 / np.sqrt(2)).real
    assert along_axis == pytest.approx(diagonal, rel=1e-2)


def test_kernels_are_cached_and_read_only():
    assert mtf_kernel(0.3) is mtf_kernel(0.3)
    with pytest.raises(ValueError):
        mtf_kernel(0.3)[0, 0] = 1.0


def test_mtf_kernels_stacks_per_band():
    gains = (0.34, 0.32, 0.30, 0.22)
    stack = mtf_kernels(gains)
    assert stack.shape == (4, 41, 41)
    np.testing.assert_array_equal(stack[3], mtf_kernel(0.22))


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).uniform(0, 2047, size=(2, 4, 45, 70))


def test_filter_equals_direct_replicate_correlation(image):
    sensor = get_sensor("QB")
    out = mtf_filter(image, sensor)
    assert out.shape == image.shape and out.dtype == np.float64
    for b, g in enumerate(sensor.ms_gnyq):
        direct = correlate(image[1, b], mtf_kernel(g), mode="nearest")
        np.testing.assert_allclose(out[1, b], direct, rtol=1e-10, atol=1e-10 * 2047)


def test_filter_small_image_smaller_than_kernel():
    x = np.random.default_rng(1).random((1, 7, 5))
    direct = correlate(x[0], mtf_kernel(0.3), mode="nearest")
    np.testing.assert_allclose(mtf_filter(x, 0.3)[0], direct, rtol=1e-10, atol=1e-12)


def test_filter_gain_forms_agree(image):
    x = image[0]
    a = mtf_filter(x, 0.3)
    b = mtf_filter(x, [0.3] * 4)
    c = mtf_filter(x, get_sensor("GF2"))
    d = mtf_filter(x, "gaofen2")
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(a, d)
    np.testing.assert_allclose(mtf_filter(x[0], 0.3), a[0], rtol=1e-12)  # (H, W) input


def test_filter_torch_matches_numpy(image):
    sensor = get_sensor("QB")
    ref = mtf_filter(image, sensor)
    t = torch.from_numpy(image)
    out = mtf_filter(t, sensor)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    np.testing.assert_array_equal(out.numpy(), ref)
    tg = t.clone().requires_grad_(True)
    out_g = mtf_filter(tg, sensor)  # torch.fft path
    np.testing.assert_allclose(out_g.detach().numpy(), ref, rtol=1e-12, atol=1e-9)
    out_g.sum().backward()
    assert tg.grad is not None and tg.grad.shape == t.shape


def test_filter_keeps_float32(image):
    x32 = image.astype(np.float32)
    out = mtf_filter(x32, 0.3)
    assert out.dtype == np.float32
    t32 = mtf_filter(torch.from_numpy(x32), 0.3)
    assert t32.dtype == torch.float32
    np.testing.assert_allclose(out, mtf_filter(image, 0.3), rtol=1e-5, atol=1e-3)


def test_filter_integer_input_gives_float64():
    x = np.full((1, 12, 12), 1000, dtype=np.uint16)
    out = mtf_filter(x, 0.3)
    assert out.dtype == np.float64
    # constant image: every output pixel is the constant times the DC gain
    np.testing.assert_allclose(out, 1000 * mtf_kernel(0.3).sum(), rtol=1e-12)


def test_filter_pan():
    pan = np.random.default_rng(2).random((30, 30)) * 2047
    sensor = get_sensor("WV3")
    direct = correlate(pan, mtf_kernel(sensor.pan_gnyq), mode="nearest")
    np.testing.assert_allclose(mtf_filter_pan(pan, sensor), direct, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(mtf_filter_pan(pan[None], 0.14)[0], direct, rtol=1e-10, atol=1e-9)
    np.testing.assert_array_equal(mtf_filter_pan(pan, "WV3"), mtf_filter_pan(pan, sensor))


def test_bad_inputs(image):
    with pytest.raises(ShapeError, match="4 band"):
        mtf_filter(image, get_sensor("WV3"))
    with pytest.raises(ShapeError, match="band"):
        mtf_filter(image, [0.3, 0.3])
    with pytest.raises(ShapeError, match="sensor WV3 gives 8"):
        mtf_filter(image, "WV3")
    bad = image.copy()
    bad[0, 0, 3, 3] = np.nan
    with pytest.raises(ValueRangeError, match="NaN"):
        mtf_filter(bad, 0.3)
    with pytest.raises(ValueRangeError):
        mtf_filter(torch.full((1, 8, 8), float("inf")), 0.3)
    with pytest.raises(ShapeError, match="channels-first"):
        mtf_filter(image[None], 0.3)
    with pytest.raises(ShapeError, match="channels-first"):
        mtf_filter(np.zeros(5), 0.3)
    with pytest.raises(ValueRangeError, match="numeric"):
        mtf_filter(np.array([["a", "b"], ["c", "d"]]), 0.3)
    with pytest.raises(ValueRangeError, match="real"):
        mtf_filter(np.ones((1, 4, 4), dtype=complex), 0.3)
    with pytest.raises(ValueRangeError, match=r"\(0, 1\)"):
        mtf_kernel(1.2)
    with pytest.raises(ValueRangeError):
        mtf_kernel(0.0)
    with pytest.raises(ShapeError, match="ratio"):
        mtf_kernel(0.3, ratio=0)
    with pytest.raises(ShapeError, match="odd"):
        mtf_kernel(0.3, size=40)
    with pytest.raises(ValueRangeError):
        mtf_filter_pan(image[0, :1], [0.1, 0.2])


def test_large_images_are_filtered_in_exact_tiles():
    # taller than one FFT tile: overlap-save tiles with a partial last tile
    x = np.random.default_rng(5).random((2, 1100, 60))
    out = mtf_filter(x, [0.3, 0.2])
    for b, g in enumerate((0.3, 0.2)):
        np.testing.assert_allclose(out[b], correlate(x[b], mtf_kernel(g), mode="nearest"), rtol=1e-10, atol=1e-12)
