"""Wald-protocol degradation: decimation phase, composition of the primitives, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pansharpen.errors import SensorError, ShapeError, ValueRangeError
from pansharpen.protocol import get_sensor
from pansharpen.protocol.interp import interp23tap
from pansharpen.protocol.mtf import mtf_filter, mtf_filter_pan
from pansharpen.protocol.resize import imresize
from pansharpen.protocol.wald import decimate, decimation_offset, wald_degrade


@pytest.mark.parametrize("ratio, offset", [(1, 0), (2, 1), (3, 1), (4, 2), (5, 2), (8, 4)])
def test_decimation_offset_follows_matlab_nearest(ratio, offset):
    # hand rule: x=1 maps to u = ratio + (1 - ratio)/2, kept input floor(u + 1/2) (1-based)
    assert decimation_offset(ratio) == offset
    x = np.tile(np.arange(8.0 * ratio), (1, 8 * ratio, 1))
    np.testing.assert_array_equal(decimate(x, ratio)[0, 0], np.arange(offset, 8 * ratio, ratio))
    np.testing.assert_array_equal(decimate(x, ratio), imresize(x, 1 / ratio, "nearest"))


def test_decimate_of_non_multiple_sizes_follows_imresize():
    x = np.random.default_rng(0).random((2, 10, 9))
    out = decimate(x, 4)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out, imresize(x, 0.25, "nearest"))


def test_decimate_undoes_interp23tap():
    # interp23tap puts LR pixels at ratio*i + ratio//2, exactly where decimation picks
    for ratio in (2, 4, 8):
        lr = np.random.default_rng(ratio).random((3, 6, 5))
        np.testing.assert_array_equal(decimate(interp23tap(lr, ratio), ratio), lr)


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(1)
    return rng.uniform(0, 2047, (8, 64, 48)), rng.uniform(0, 2047, (1, 256, 192))


def test_wald_degrade_composes_the_reference_steps(pair):
    ms, pan = pair
    sensor = get_sensor("WV3")
    ms_lr, pan_lr = wald_degrade(ms, pan, sensor)
    assert ms_lr.shape == (8, 16, 12) and pan_lr.shape == (1, 64, 48)
    np.testing.assert_array_equal(ms_lr, mtf_filter(ms, sensor)[:, 2::4, 2::4])
    np.testing.assert_array_equal(pan_lr, imresize(pan, 0.25))
    _, pan_mtf = wald_degrade(ms, pan, "wv3", pan_mode="mtf")
    np.testing.assert_array_equal(pan_mtf, mtf_filter_pan(pan, sensor)[:, 2::4, 2::4])


def test_wald_degrade_shapes_and_kinds(pair):
    ms, pan = pair
    a, b = wald_degrade(ms, pan[0], "WV3")
    assert b.shape == (64, 48)
    ms_t, pan_t = torch.from_numpy(ms[None]), torch.from_numpy(pan[None]).float()
    a_t, b_t = wald_degrade(ms_t, pan_t, "WV3")
    assert isinstance(a_t, torch.Tensor) and a_t.shape == (1, 8, 16, 12) and a_t.dtype == torch.float64
    assert b_t.shape == (1, 1, 64, 48) and b_t.dtype == torch.float32
    np.testing.assert_array_equal(a_t[0].numpy(), a)
    np.testing.assert_allclose(b_t[0, 0].numpy(), b, rtol=1e-6)


def test_wald_degrade_ratio_2(pair):
    ms, pan = pair
    ms_lr, pan_lr = wald_degrade(ms, pan[:, :128, :96], "WV3", ratio=2)
    assert ms_lr.shape == (8, 32, 24) and pan_lr.shape == (1, 64, 48)
    np.testing.assert_array_equal(ms_lr, mtf_filter(ms, get_sensor("WV3"), 2)[:, 1::2, 1::2])


def test_wald_degrade_errors(pair):
    ms, pan = pair
    with pytest.raises(ShapeError, match="multiple of ratio 4; crop it to 60 x 48"):
        wald_degrade(ms[:, :62], pan[:, :248], "WV3")
    with pytest.raises(ShapeError, match="ratio x the MS size"):
        wald_degrade(ms, pan[:, :32], "WV3")
    with pytest.raises(ShapeError, match="8 band.*4|4.*band"):
        wald_degrade(ms, pan, "QB")
    with pytest.raises(ShapeError, match="pan must be"):
        wald_degrade(ms, np.concatenate([pan, pan]), "WV3")
    with pytest.raises(ShapeError, match="ms must be"):
        wald_degrade(ms[0], pan, "WV3")
    with pytest.raises(ShapeError, match="batch"):
        wald_degrade(np.stack([ms, ms]), pan[None], "WV3")
    with pytest.raises(SensorError):
        wald_degrade(ms, pan, "Landsat-99")
    bad = ms.copy()
    bad[3, 5, 5] = np.nan
    with pytest.raises(ValueRangeError, match="ms contains NaN"):
        wald_degrade(bad, pan, "WV3")
    with pytest.raises(ValueRangeError, match="pan contains NaN"):
        wald_degrade(ms, np.full_like(pan, np.inf), "WV3")
    with pytest.raises(ValueRangeError, match="pan_mode"):
        wald_degrade(ms, pan, "WV3", pan_mode="gauss")
    with pytest.raises(ShapeError, match="ratio"):
        wald_degrade(ms, pan, "WV3", ratio=0)


def test_wald_degrade_is_differentiable_for_tensors_that_need_grad(pair):
    ms, pan = pair
    ms_t = torch.from_numpy(ms).requires_grad_(True)
    pan_t = torch.from_numpy(pan).requires_grad_(True)
    ms_lr, pan_lr = wald_degrade(ms_t, pan_t, "WV3")
    ref_ms, ref_pan = wald_degrade(ms, pan, "WV3")
    np.testing.assert_allclose(ms_lr.detach().numpy(), ref_ms, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(pan_lr.detach().numpy(), ref_pan, rtol=1e-12, atol=1e-9)
    (ms_lr.sum() + pan_lr.sum()).backward()
    assert ms_t.grad.abs().sum() > 0 and pan_t.grad.abs().sum() > 0
