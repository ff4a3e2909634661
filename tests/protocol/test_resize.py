"""MATLAB-compatible imresize: contributions rule, PIL cross-check on interior pixels, properties."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pansharpen.errors import ShapeError, ValueRangeError
from pansharpen.protocol.resize import contributions, cubic_kernel, imresize

PIL = pytest.importorskip("PIL.Image")


def pil_resize(band: np.ndarray, size: int, method) -> np.ndarray:
    """PIL float ('F') resize: same support-scaled Keys a=-0.5 kernel, clipped instead of mirrored borders."""
    return np.asarray(PIL.fromarray(band.astype(np.float32), mode="F").resize((size, size), method), np.float64)


@pytest.fixture(scope="module")
def band():
    return np.random.default_rng(0).uniform(0, 2047, size=(128, 128))


def test_cubic_kernel_hand_values():
    # Keys a = -0.5: k(0)=1, k(1)=k(2)=0, k(0.5)=0.5625, k(1.5)=-0.0625
    np.testing.assert_allclose(cubic_kernel(np.array([0, 0.5, 1, 1.5, 2, 2.5, -0.5])),
                               [1, 0.5625, 0, -0.0625, 0, 0, 0.5625])


def test_nearest_quarter_picks_matlab_pixels():
    x = np.tile(np.arange(256.0), (1, 256, 1))
    out = imresize(x, 0.25, "nearest")
    assert out.shape == (1, 64, 64)
    np.testing.assert_array_equal(out[0, 0], np.arange(2, 256, 4))
    np.testing.assert_array_equal(out[0, :, 5], np.full(64, 22.0))


def test_nearest_ignores_antialias_like_matlab():
    x = np.random.default_rng(1).random((1, 16, 16))
    np.testing.assert_array_equal(imresize(x, 0.5, "nearest", antialias=True), x[:, 1::2, 1::2])


@pytest.mark.parametrize("scale, border", [(0.25, 4), (0.5, 4), (2.0, 6)])
def test_bicubic_matches_pil_on_interior(band, scale, border):
    n = int(128 * scale)
    ours = imresize(band, scale)
    assert ours.shape == (n, n)
    ref = pil_resize(band, n, PIL.BICUBIC)
    inner = (slice(border, -border),) * 2
    np.testing.assert_allclose(ours[inner], ref[inner], rtol=0, atol=2047 * 2e-7)
    # and the borders differ (mirror vs clip), so the comparison above is not vacuous
    assert np.abs(ours - ref).max() > 1e-2


@pytest.mark.parametrize("scale", [0.25, 2.0])
def test_bilinear_matches_pil_on_interior(band, scale):
    n = int(128 * scale)
    inner = (slice(4, -4),) * 2
    np.testing.assert_allclose(imresize(band, scale, "bilinear")[inner], pil_resize(band, n, PIL.BILINEAR)[inner],
                               rtol=0, atol=2047 * 2e-7)


def test_symmetric_border_includes_the_edge_pixel(band):
    # resizing with a mirror border == resizing an explicitly mirror-padded image, then cropping
    pad = 16
    padded = np.pad(band, pad, mode="symmetric")  # [.. x1 x0 | x0 x1 ..]: MATLAB's [n..1, 1..n]
    crop = pad // 4
    np.testing.assert_allclose(imresize(padded, 0.25)[crop:-crop, crop:-crop], imresize(band, 0.25),
                               rtol=1e-12, atol=1e-9)


def test_downscale_of_a_constant_is_the_constant():
    out = imresize(np.full((2, 3, 37, 50), 1234.5), 0.25)
    assert out.shape == (2, 3, 10, 13)  # ceil(37/4), ceil(50/4)
    np.testing.assert_allclose(out, 1234.5, rtol=1e-14)


def test_upscaling_a_linear_ramp_is_linear_in_the_interior():
    ramp = np.tile(3.0 * np.arange(20) + 7.0, (20, 1))
    out = imresize(ramp, 2.0)
    # output column o sits at input coordinate (o + 0.5) / 2 - 0.5
    expected = 3.0 * ((np.arange(40) + 0.5) / 2 - 0.5) + 7.0
    np.testing.assert_allclose(out[:, 4:-4], np.tile(expected, (40, 1))[:, 4:-4], atol=1e-10)


def test_weights_are_normalised_and_indices_in_range():
    for method in ("bicubic", "bilinear", "nearest"):
        w, idx = contributions(50, 0.25, method, True)
        np.testing.assert_allclose(w.sum(axis=1), 1.0)
        assert idx.min() >= 0 and idx.max() < 50
    w, _ = contributions(512, 0.25, "bicubic", True)
    assert w.shape[1] <= 18  # kernel width 16 + 2


def test_output_size_is_ceil():
    assert imresize(np.ones((1, 10, 7)), 1 / 3).shape == (1, 4, 3)


def test_torch_and_numpy_agree(band):
    x = np.stack([band, band[::-1]])[None]
    ref = imresize(x, 0.25)
    out = imresize(torch.from_numpy(x), 0.25)
    assert isinstance(out, torch.Tensor) and out.shape == (1, 2, 32, 32)
    np.testing.assert_array_equal(out.numpy(), ref)
    tg = torch.from_numpy(x).requires_grad_(True)
    out_g = imresize(tg, 0.25)
    np.testing.assert_allclose(out_g.detach().numpy(), ref, rtol=1e-12, atol=1e-9)
    out_g.sum().backward()
    assert tg.grad.shape == tg.shape
    assert imresize(x.astype(np.float32), 0.5).dtype == np.float32
    assert imresize(x.astype(np.uint16), 0.5).dtype == np.float64


def test_bad_arguments():
    x = np.ones((1, 8, 8))
    with pytest.raises(ValueRangeError, match="method"):
        imresize(x, 0.5, "lanczos7")
    with pytest.raises(ValueRangeError, match="positive"):
        imresize(x, 0)
    with pytest.raises(ValueRangeError, match="positive"):
        imresize(x, float("nan"))
    with pytest.raises(ValueRangeError):
        imresize(x, "half")
    with pytest.raises(ValueRangeError, match="NaN"):
        imresize(np.full((1, 8, 8), np.inf), 0.5)
    with pytest.raises(ShapeError):
        imresize(np.ones(8), 0.5)


def test_bicubic_upscale_matches_real_matlab_output(reference_dir):
    # The FusionNet/PanCollection WV3 training patch in the SpanConv reference vector carries an
    # `lms` made by MATLAB (whole-scene imresize(ms, 4), bicubic, then cut and stored as integer
    # DN). Away from the patch border (where the whole scene continued), ours must agree to the
    # rounding of the stored integers (|lms error| <= 0.5, ms rounding propagated: <~ 0.6).
    path = reference_dir / "spanconv_wv3_w760_patch64.npz"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    data = np.load(path)
    ms = np.round(data["lrms"][0].astype(np.float64) * 2047)
    lms = np.round(data["lms"][0].astype(np.float64) * 2047)
    ours = imresize(ms, 4.0)
    diff = (ours - lms)[:, 8:-8, 8:-8]
    assert np.abs(diff).max() < 1.2
    assert np.abs(diff).mean() < 0.4
    # a different bicubic (torch, a = -0.75) is far off: the comparison discriminates
    other = torch.nn.functional.interpolate(torch.from_numpy(ms[None]), scale_factor=4, mode="bicubic")[0].numpy()
    assert np.abs(other - lms)[:, 8:-8, 8:-8].max() > 10


def test_antialiased_bicubic_downscale_matches_real_matlab_output(reference_dir):
    # The same patch's `ms` was simulated from its `gt` with MATLAB imresize(gt, 1/4) (bicubic,
    # antialiased) on the whole scene and stored as integers: interior pixels agree to rounding.
    path = reference_dir / "spanconv_wv3_w760_patch64.npz"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    data = np.load(path)
    gt = np.round(data["gt"][0].astype(np.float64) * 2047)
    ms = np.round(data["lrms"][0].astype(np.float64) * 2047)
    diff = (imresize(gt, 0.25) - ms)[:, 3:-3, 3:-3]
    assert np.abs(diff).max() < 1.0
    assert np.abs(diff).mean() < 0.35
    # without antialiasing (plain 4-tap cubic) the result is far off
    assert np.abs(imresize(gt, 0.25, antialias=False) - ms)[:, 3:-3, 3:-3].max() > 10


@pytest.mark.parametrize("scale", [0.25, 4.0, 0.5, 1 / 3])
@pytest.mark.parametrize("strip", [1, 6, 11])
def test_imresize_rows_are_bitwise_the_whole_image_rows(scale, strip):
    from pansharpen.protocol.resize import imresize_input_rows, imresize_rows

    img = np.random.default_rng(8).uniform(0, 2047, (2, 37, 29))  # odd sizes
    whole = imresize(img, scale)
    asked = []

    def rows_of(lo, hi):
        asked.append((lo, hi))
        return img[:, lo:hi]

    bands = [(a, min(a + strip, whole.shape[1])) for a in range(0, whole.shape[1], strip)]
    got = np.concatenate([imresize_rows(rows_of, 37, scale, a, b) for a, b in bands], axis=1)
    np.testing.assert_array_equal(got, whole)
    assert asked == [imresize_input_rows(37, scale, a, b) for a, b in bands]
    reach = (4 / scale if scale < 1 else 4) + 2  # kernel width on the input grid, plus rounding
    assert max(hi - lo for lo, hi in asked) <= strip / scale + reach  # a band of rows, not the image
