"""interp23tap against a literal re-implementation of the reference steps and section 4.4 facts."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import correlate1d

from pansharpen.errors import ShapeError, ValueRangeError
from pansharpen.protocol.interp import interp23tap

# half-band coefficients of interp23tap.m (metrics-reference section 3.2), centre first
HALF = 2 * np.array([0.5, 0.305334091185, 0, -0.072698593239, 0, 0.021809577942, 0,
                     -0.005192756653, 0, 0.000807762146, 0, -0.000060081482])
KERNEL = np.concatenate([HALF[:0:-1], HALF])


def literal_interp23tap(x: np.ndarray, ratio: int) -> np.ndarray:
    """The MATLAB steps written out: zero-insert, full 23-tap circular filtering of rows and columns."""
    for step in range(int(np.log2(ratio))):
        c, h, w = x.shape
        up = np.zeros((c, 2 * h, 2 * w))
        offset = 1 if step == 0 else 0  # MATLAB 2:2:end first, 1:2:end afterwards
        up[:, offset::2, offset::2] = x
        up = correlate1d(up, KERNEL, axis=1, mode="wrap")
        x = correlate1d(up, KERNEL, axis=2, mode="wrap")
    return x


def plain_steps(x: np.ndarray, ratio: int) -> np.ndarray:
    """The step-wise form written plainly (whole stack, np.roll): each new sample is
    ``(a_0 + b_0) t_0 + (a_1 + b_1) t_1 + ...`` over the pairs of odd offsets, in that order."""
    taps = HALF[1::2]
    for step in range(int(np.log2(ratio))):
        odd = step == 0
        for axis in (-2, -1):
            shift = 0 if odd else 1
            new = None
            for j, tap in enumerate(taps):  # x[m + j + shift] and x[m + shift - j - 1], circular
                term = (np.roll(x, -(j + shift), axis) + np.roll(x, -(shift - j - 1), axis)) * tap
                new = term if new is None else new + term
            pair = (new, x) if odd else (x, new)  # (even position, odd position)
            x = np.stack(pair, axis=x.ndim + axis + 1).reshape(
                *x.shape[:axis % x.ndim], 2 * x.shape[axis], *x.shape[x.ndim + axis + 1:])
    return x


@pytest.mark.parametrize("ratio", [2, 4, 8])
@pytest.mark.parametrize("shape", [(3, 9, 14), (1, 1, 3), (2, 23, 24), (8, 37, 30)])
def test_numpy_polyphase_form_equals_the_plain_steps(ratio, shape):
    """The numpy form (block matrix products of the polyphase filters) is the plain step-wise
    form's linear map: equal to float rounding, the LR samples copied exactly."""
    x = np.random.default_rng(ratio * 7 + sum(shape)).uniform(0, 2047, size=shape)
    want = plain_steps(x, ratio)
    got = interp23tap(x, ratio)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=2047 * 1e-14)
    np.testing.assert_array_equal(got[:, ratio // 2::ratio, ratio // 2::ratio], x)
    np.testing.assert_array_equal(interp23tap(x[None], ratio)[0], got)


@pytest.mark.parametrize("ratio", [2, 4, 8, 16])
def test_a_window_with_margin_gives_the_whole_images_values_bitwise(ratio):
    """What tiles and strips rely on: every output sample is the same ordered sum over its taps
    wherever its block starts, so the interior of a window with a 10-pixel LR margin is bitwise
    the whole image's interpolation (odd offsets and sizes, a one-row window)."""
    x = np.random.default_rng(ratio).uniform(0, 2047, size=(3, 97, 83))
    whole = interp23tap(x, ratio)
    m = 10
    for r0, c0, h, w in [(10, 10, 40, 33), (11, 13, 37, 41), (20, 12, 55, 60), (13, 11, 1, 7)]:
        window = interp23tap(x[:, r0 - m:r0 + h + m, c0 - m:c0 + w + m], ratio)
        inner = window[:, m * ratio:(m + h) * ratio, m * ratio:(m + w) * ratio]
        np.testing.assert_array_equal(inner, whole[:, r0 * ratio:(r0 + h) * ratio, c0 * ratio:(c0 + w) * ratio])


def test_kernel_facts():
    assert KERNEL.size == 23 and KERNEL[11] == 1.0
    assert KERNEL.sum() == pytest.approx(2.0, abs=1e-9)


@pytest.mark.parametrize("ratio", [2, 4, 8, 16])
def test_matches_literal_reference(ratio):
    x = np.random.default_rng(ratio).uniform(0, 2047, size=(3, 9, 14))
    out = interp23tap(x, ratio)
    assert out.shape == (3, 9 * ratio, 14 * ratio) and out.dtype == np.float64
    np.testing.assert_allclose(out, literal_interp23tap(x, ratio), rtol=0, atol=1e-9)


@pytest.mark.parametrize("ratio, phase", [(2, 1), (4, 2), (8, 4), (16, 8)])
def test_keeps_lr_samples_at_the_decimation_phase(ratio, phase):
    # first step puts sample i at 2i+1, each later step doubles the index: phase = ratio/2
    x = np.random.default_rng(0).uniform(0, 2047, size=(2, 8, 8))
    out = interp23tap(x, ratio)
    np.testing.assert_array_equal(out[:, phase::ratio, phase::ratio], x)
    # and not at another phase
    other = (phase + 1) % ratio
    assert np.abs(out[:, other::ratio, other::ratio] - x).max() > 1


def test_dc_gain():
    # a new sample's weights are the odd taps: 2 * (0.305334091185 - 0.072698593239 + ...) per pass
    # (c is the toolbox coefficient list times 2; each odd offset appears on both sides)
    per_pass = 2 * (0.305334091185 - 0.072698593239 + 0.021809577942 - 0.005192756653
                    + 0.000807762146 - 0.000060081482) * 2
    assert per_pass == pytest.approx(1 - 4.04e-10, abs=1e-12)
    x2 = interp23tap(np.ones((1, 8, 8)), 2)
    assert x2.max() == 1.0
    assert x2.min() == pytest.approx(per_pass**2, abs=1e-15)  # new in both directions: 1 - 8e-10
    x4 = interp23tap(np.ones((1, 8, 8)), 4)
    assert x4.max() == 1.0 and per_pass**4 - 1e-15 <= x4.min() < 1 - 8e-10


def test_reproduces_a_smooth_periodic_signal():
    n, ratio = 32, 4
    lr = np.cos(2 * np.pi * 2 * np.arange(n) / n)
    # HR index p sits at LR coordinate (p - ratio/2) / ratio
    hr = np.cos(2 * np.pi * 2 * (np.arange(n * ratio) - ratio / 2) / ratio / n)
    out = interp23tap(np.broadcast_to(lr[None, :, None], (1, n, n)).copy(), ratio)
    np.testing.assert_allclose(out[0, :, 0], hr, atol=1e-3)


def test_batch_and_single_and_2d_agree():
    x = np.random.default_rng(1).random((2, 3, 6, 5))
    batch = interp23tap(x, 4)
    np.testing.assert_array_equal(interp23tap(x[1], 4), batch[1])
    np.testing.assert_array_equal(interp23tap(x[1, 2], 4), batch[1, 2])


def test_tiny_images_wrap_around():
    x = np.random.default_rng(2).random((1, 1, 3))
    np.testing.assert_allclose(interp23tap(x, 4), literal_interp23tap(x, 4), atol=1e-12)


def test_torch_matches_numpy_and_keeps_dtype():
    x = np.random.default_rng(3).uniform(0, 2047, size=(2, 4, 10, 12))
    ref = interp23tap(x, 4)
    out = interp23tap(torch.from_numpy(x), 4)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-14, atol=1e-11)  # polyphase form: rounding only
    grad_in = torch.from_numpy(x).requires_grad_(True)
    np.testing.assert_allclose(interp23tap(grad_in, 4).detach().numpy(), ref, rtol=1e-14, atol=1e-11)
    assert interp23tap(x.astype(np.float32), 4).dtype == np.float32
    assert interp23tap(x.astype(np.uint16), 4).dtype == np.float64


@pytest.mark.parametrize("ratio", [2, 4, 8, 16])
@pytest.mark.parametrize("shape", [(3, 9, 14), (1, 1, 3), (2, 2, 1), (1, 23, 24)])
def test_tensor_polyphase_form_matches_literal_reference(ratio, shape):
    """Tensors take the polyphase form; it is the same linear map as the MATLAB steps, wrap-around included."""
    x = np.random.default_rng(ratio + sum(shape)).uniform(0, 2047, size=shape)
    want = literal_interp23tap(x, ratio)
    got64 = interp23tap(torch.from_numpy(x), ratio)
    np.testing.assert_allclose(got64.numpy(), want, rtol=0, atol=1e-9)
    got32 = interp23tap(torch.from_numpy(x).float(), ratio)
    assert got32.dtype == torch.float32
    np.testing.assert_allclose(got32.double().numpy(), want, rtol=0, atol=2047 * 2e-6)
    # the LR samples are copied, not recomputed: exact in float32 as well
    half = ratio // 2
    np.testing.assert_array_equal(got32[:, half::ratio, half::ratio].numpy(), x.astype(np.float32))


def test_tensor_polyphase_gradient():
    x = torch.rand(1, 2, 5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: interp23tap(t, 4), (x,))


def test_float32_autograd_as_model_upsampler():
    ms = torch.rand(2, 4, 8, 8, dtype=torch.float32, requires_grad=True)
    lms = interp23tap(ms, 4)
    assert lms.dtype == torch.float32 and lms.shape == (2, 4, 32, 32)
    lms[:, :, 2::4, 2::4].sum().backward()
    # the LR samples pass through with weight exactly 1 and nothing else reaches those pixels
    torch.testing.assert_close(ms.grad, torch.ones_like(ms))


@pytest.mark.parametrize("ratio", [3, 6, 0, -4, 2.5])
def test_rejects_ratios_that_are_not_powers_of_two(ratio):
    with pytest.raises(ShapeError, match="power-of-two"):
        interp23tap(np.ones((1, 4, 4)), ratio)


def test_rejects_bad_images():
    with pytest.raises(ValueRangeError, match="NaN"):
        interp23tap(np.full((1, 4, 4), np.nan), 4)
    with pytest.raises(ShapeError, match="channels-first"):
        interp23tap(np.ones((1, 1, 1, 4, 4)), 4)


def test_ratio_one_is_identity():
    x = np.random.default_rng(4).random((2, 5, 5))
    np.testing.assert_array_equal(interp23tap(x, 1), x)


# ------------------------------------------------------------------------------- any integer ratio
def _plain_general(x: np.ndarray, r: int) -> np.ndarray:
    """Zero insertion at phase r//2, then a circular 45-tap correlation along rows and columns, by loops."""
    from pansharpen.protocol.interp import general_kernel

    k = general_kernel(r)
    h, w = x.shape
    up = np.zeros((h * r, w * r))
    up[r // 2::r, r // 2::r] = x
    rad = k.size // 2
    rows = np.zeros_like(up)
    for i in range(up.shape[0]):
        for t in range(k.size):
            rows[i] += k[t] * up[(i + t - rad) % up.shape[0]]
    out = np.zeros_like(up)
    for j in range(up.shape[1]):
        for t in range(k.size):
            out[:, j] += k[t] * rows[:, (j + t - rad) % up.shape[1]]
    return out


@pytest.mark.parametrize("ratio", [3, 5, 6])
@pytest.mark.parametrize("shape", [(2, 7, 9), (1, 1, 3), (1, 2, 1)])
def test_general_interpolator_equals_the_plain_computation(ratio, shape):
    """The polyphase block products against the zero-insert filtering written as loops (wrap-around
    included: images narrower than the filter's reach)."""
    from pansharpen.protocol.interp import interp_general

    x = np.random.default_rng(ratio).uniform(0, 2047, shape)
    out = interp_general(x, ratio)
    assert out.shape == (shape[0], shape[1] * ratio, shape[2] * ratio)
    for c in range(shape[0]):
        np.testing.assert_allclose(out[c], _plain_general(x[c], ratio), rtol=0, atol=1e-9)


@pytest.mark.parametrize("ratio", [3, 6])
def test_general_interpolator_windows_give_the_whole_images_values_bitwise(ratio):
    from pansharpen.protocol.interp import interp_general

    x = np.random.default_rng(ratio).uniform(0, 2047, size=(2, 61, 47))
    whole = interp_general(x, ratio)
    m = 10
    for r0, c0, h, w in [(10, 10, 30, 23), (11, 13, 27, 21), (13, 11, 1, 7)]:
        window = interp_general(x[:, r0 - m:r0 + h + m, c0 - m:c0 + w + m], ratio)
        inner = window[:, m * ratio:(m + h) * ratio, m * ratio:(m + w) * ratio]
        np.testing.assert_array_equal(inner, whole[:, r0 * ratio:(r0 + h) * ratio, c0 * ratio:(c0 + w) * ratio])


def test_general_kernel_is_fir1_scaled():
    from pansharpen.protocol.interp import general_kernel

    k = general_kernel(3)
    assert k.size == 45 and np.isclose(k.sum(), 3.0) and np.allclose(k, k[::-1])
    # zeros of the windowed sinc at nonzero multiples of the ratio: known samples pass through
    assert np.allclose(k[22 + 3::3], 0, atol=1e-15) and abs(k[22] - 1) < 1e-3


def test_general_interpolator_keeps_samples_and_smooth_signals():
    from pansharpen.protocol.interp import interp_general

    x = np.random.default_rng(0).uniform(100, 1000, (1, 12, 12))
    y = interp_general(x, 3)
    assert np.abs(y[0, 1::3, 1::3] - x[0]).max() < 1e-3 * x.max()  # LR pixel i at HR 3i + 1
    assert np.abs(interp_general(np.full((1, 6, 6), 500.0), 3) - 500.0).max() < 0.5
    n = 48
    i = np.arange(n)
    ramp = np.sin(2 * np.pi * i / n)[None, None, :] * np.ones((1, n, 1))
    hr = np.sin(2 * np.pi * ((np.arange(3 * n) - 1) / 3) / n)
    assert np.abs(interp_general(ramp, 3)[0, 10] - hr).max() < 5e-3


def test_upsample_dispatches_by_ratio():
    import torch

    from pansharpen.protocol.interp import interp_general, upsample

    x = np.random.default_rng(1).uniform(0, 1, (3, 8, 8))
    np.testing.assert_array_equal(upsample(x, 4), interp23tap(x, 4))
    np.testing.assert_array_equal(upsample(x, 3), interp_general(x, 3))
    t = upsample(torch.from_numpy(x).float(), 3)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    np.testing.assert_allclose(t.numpy(), interp_general(x, 3), atol=1e-4)


# ------------------------------------------------------------------ sub-pixel grid phase
def test_zero_phase_is_the_plain_interpolator():
    x = np.random.default_rng(5).random((3, 9, 7))
    np.testing.assert_array_equal(interp23tap(x, 4, phase=(0.0, 0.0)), interp23tap(x, 4))
    np.testing.assert_array_equal(interp23tap(x, 4, phase=(1e-9, -1e-9)), interp23tap(x, 4))  # rounding noise


@pytest.mark.parametrize("ratio", [2, 4])
def test_phase_of_whole_pixels_shifts_and_half_pixels_match_the_finer_ratio(ratio):
    x = np.random.default_rng(6).random((2, 10, 8))
    plain = interp23tap(x, ratio)
    moved = interp23tap(x, ratio, phase=(1.0, -1.0))  # out(k) = plain(k - phase), circular
    np.testing.assert_allclose(moved, np.roll(plain, (1, -1), axis=(-2, -1)), atol=1e-12)
    # phase 1/2 PAN pixel = odd samples of the same interpolator at twice the ratio
    fine = interp23tap(x, 2 * ratio)
    half = interp23tap(x, ratio, phase=(0.5, 0.5))
    np.testing.assert_allclose(half, np.roll(fine, (1, 1), axis=(-2, -1))[..., ::2, ::2], atol=1e-12)


def test_phase_recovers_a_shifted_smooth_signal():
    """A band-limited signal sampled on a grid shifted by 0.3 PAN px is interpolated where it lies."""
    n, ratio = 32, 4
    k = np.arange(n * ratio)

    def truth(pos):
        return np.cos(2 * np.pi * 2 * pos / (n * ratio)) + 0.5 * np.sin(2 * np.pi * 5 * pos / (n * ratio))

    def error(shift, use_phase=True):
        centres = ratio * np.arange(n) + ratio // 2 + shift  # interp23tap's sample position plus the phase
        lr = truth(centres)[None, None, :] * np.ones((1, 4, 1))
        return np.abs(interp23tap(lr, ratio, phase=(0.0, shift) if use_phase else (0, 0))[0, 0] - truth(k)).max()

    aligned = error(0.0)  # the interpolator's own error on this signal (1.5e-5)
    for shift in (0.3, -0.37, 0.5):
        assert error(shift) < 2 * aligned  # as good as on an aligned grid
        assert error(shift, use_phase=False) > 1000 * aligned  # ignoring the phase is not


def test_phase_on_tensors_matches_numpy():
    x = np.random.default_rng(7).random((1, 2, 6, 5))
    a = interp23tap(x, 4, phase=(0.25, -0.5))
    b = interp23tap(torch.from_numpy(x), 4, phase=(0.25, -0.5)).numpy()
    np.testing.assert_allclose(a, b, atol=1e-12)
    with pytest.raises(ShapeError, match="phase"):
        interp23tap(x, 4, phase=(5.0, 0.0))
