"""Property-based tests (hypothesis) of the numerical core: tiling, metric invariances, interp23tap,
and every public array function on random valid and invalid shapes (a result or a PanSharpenError,
never a crash from inside numpy or torch). Few examples each, so the suite stays fast."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.ndimage import uniform_filter

from pansharpen.errors import PanSharpenError

FAST = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------------------------ tiling
class BoxFuser:
    """MS repeated x R plus the PAN minus its (2k+1)-box mean: receptive field radius k <= halo."""

    name = "box"
    bands = 3

    def __init__(self, ratio, radius, halo):
        self.ratio, self.radius, self.halo = ratio, radius, halo

    def prepare(self, ms, pan):
        pass

    def __call__(self, ms, pan, origin=(0, 0)):
        r = self.ratio
        up = np.repeat(np.repeat(ms, r, axis=1), r, axis=2)
        return up + (pan[0] - uniform_filter(pan[0], size=2 * self.radius + 1, mode="constant"))[None]


@FAST
@given(
    ratio=st.sampled_from([2, 4]),
    h=st.integers(3, 14),
    w=st.integers(3, 14),
    tile_ms=st.integers(1, 12),
    radius=st.integers(0, 4),
    extra_halo=st.integers(0, 6),
    holes=st.integers(0, 6),
    seed=st.integers(0, 2**16),
)
def test_tiles_equal_the_whole_image(ratio, h, w, tile_ms, radius, extra_halo, holes, seed):
    from pansharpen.fusion.scene import fuse_sources
    from pansharpen.io.sources import ArraySource

    rng = np.random.default_rng(seed)
    ms = rng.uniform(100, 1500, (3, h, w))
    pan = rng.uniform(100, 1500, (1, h * ratio, w * ratio))
    for _ in range(holes):  # nodata pixels, filled with the scene means before fusing
        ms[:, rng.integers(h), rng.integers(w)] = 0
        pan[0, rng.integers(h * ratio), rng.integers(w * ratio)] = 0
    fuser = BoxFuser(ratio, radius, radius + extra_halo)

    def run(tile):
        return fuse_sources(ArraySource(pan, path="pan", nodata=0), ArraySource(ms, path="ms", nodata=0), fuser, tile=tile)

    # nodata pixels (PAN or any MS band under them) are masked in the product; the rest must match exactly
    bad = (pan[0] == 0) | np.repeat(np.repeat((ms == 0).any(0), ratio, 0), ratio, 1)
    np.testing.assert_allclose(run(tile_ms * ratio)[:, ~bad], run(4096)[:, ~bad], rtol=0, atol=1e-9)


# ------------------------------------------------------------------------------------------------ metrics
def _images(seed, bands, size, low=50, high=2000):
    rng = np.random.default_rng(seed)
    ref = rng.integers(low, high, (bands, size, size)).astype(np.float64)
    fus = np.clip(ref + rng.integers(-80, 80, ref.shape), 1, None)
    return ref, fus


@FAST
@given(seed=st.integers(0, 2**16), scale=st.integers(2, 30), bands=st.sampled_from([3, 4, 8]))
def test_q2n_is_invariant_to_a_common_scale(seed, scale, bands):
    from pansharpen.metrics import q2n

    ref, fus = _images(seed, bands, 32)  # integers, so the uint16 cast of the reference is exact at both scales
    assert q2n(ref * scale, fus * scale) == pytest.approx(q2n(ref, fus), abs=1e-9)


@FAST
@given(seed=st.integers(0, 2**16), bands=st.integers(2, 8), low=st.floats(0.05, 1.0), high=st.floats(1.0, 40.0))
def test_sam_is_invariant_to_a_per_pixel_scale(seed, bands, low, high):
    from pansharpen.metrics import sam

    ref, fus = _images(seed, bands, 12)
    s = np.random.default_rng(seed + 1).uniform(low, high, (1, 12, 12))
    assert sam(ref, fus * s) == pytest.approx(sam(ref, fus), abs=1e-6)
    assert sam(ref * s, ref) == pytest.approx(0.0, abs=1e-5)


@FAST
@given(seed=st.integers(0, 2**16), bands=st.integers(1, 8), e=st.floats(-0.5, 0.5), ratio=st.sampled_from([2, 4]))
def test_ergas_of_a_constant_relative_error(seed, bands, e, ratio):
    """fused = ref (1 + e): RMSE_k = |e| sqrt(mean ref_k^2), so ERGAS = 100/R |e| sqrt(mean_k mean(ref_k^2)/mean(ref_k)^2)."""
    from pansharpen.metrics import ergas

    ref, _ = _images(seed, bands, 16)
    expected = 100 / ratio * abs(e) * np.sqrt(np.mean((ref**2).mean(axis=(1, 2)) / ref.mean(axis=(1, 2)) ** 2))
    assert ergas(ref, ref * (1 + e), ratio=ratio) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    flat = np.broadcast_to(ref.mean(axis=(1, 2))[:, None, None], ref.shape)  # per-band constant: exactly 100/R |e|
    assert ergas(flat, flat * (1 + e), ratio=ratio) == pytest.approx(100 / ratio * abs(e), rel=1e-9, abs=1e-12)


# ------------------------------------------------------------------------------------------------ interp23tap
@FAST
@given(
    ratio=st.sampled_from([2, 4, 8]),
    shape=st.tuples(st.integers(1, 4), st.integers(1, 11), st.integers(1, 11)),
    seed=st.integers(0, 2**16),
    torch_input=st.booleans(),
)
def test_interp23tap_keeps_the_low_resolution_samples(ratio, shape, seed, torch_input):
    import torch

    from pansharpen.protocol import interp23tap

    x = np.random.default_rng(seed).uniform(0, 2047, shape)
    out = interp23tap(torch.from_numpy(x) if torch_input else x, ratio)
    out = out.numpy() if torch_input else out
    assert out.shape == (shape[0], shape[1] * ratio, shape[2] * ratio)
    half = ratio // 2
    np.testing.assert_array_equal(out[:, half::ratio, half::ratio], x)


# ------------------------------------------------------------------------------------------------ any shape
def _public_array_functions():
    from pansharpen import metrics
    from pansharpen.classical.registry import fuse_classical
    from pansharpen.protocol import decimate, imresize, interp23tap, mtf_filter, wald_degrade

    one = {
        "interp23tap": lambda a, b: interp23tap(a, 4),
        "imresize": lambda a, b: imresize(a, 0.25),
        "mtf_filter": lambda a, b: mtf_filter(a, "WV3" if np.ndim(a) and np.shape(a)[-3:-2] == (8,) else 0.3, 4),
        "decimate": lambda a, b: decimate(a, 4),
    }
    two = {name: getattr(metrics, name) for name in ("q2n", "q_index", "sam", "ergas", "scc", "psnr", "ssim",
                                                      "reduced_resolution_indices", "d_lambda")}
    two.update({
        "d_s": lambda a, b: metrics.d_s(a, a, b),
        "qnr": lambda a, b: metrics.qnr(a, a, b),
        "d_lambda_k": lambda a, b: metrics.d_lambda_k(a, a, "none"),
        "hqnr": lambda a, b: metrics.hqnr(a, a, b, "none"),
        "full_resolution_indices": lambda a, b: metrics.full_resolution_indices(a, None, b, "none", ms_exp=a),
        "wald_degrade": lambda a, b: wald_degrade(a, b, "none"),
        "gsa": lambda a, b: fuse_classical("gsa", a, b),
        "mtf-glp": lambda a, b: fuse_classical("mtf-glp", a, b),
        "brovey": lambda a, b: fuse_classical("brovey", a, b),
    })
    return {**one, **two}


FUNCTIONS = _public_array_functions()
_shape = st.lists(st.integers(0, 40), min_size=0, max_size=5).map(tuple)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(a_shape=_shape, b_shape=_shape, seed=st.integers(0, 2**16), kind=st.sampled_from(["float", "int", "nan"]))
def test_any_shape_gives_a_result_or_a_clear_error(name, a_shape, b_shape, seed, kind):
    rng = np.random.default_rng(seed)
    if np.prod(a_shape) * 1.0 > 200_000 or np.prod(b_shape) * 1.0 > 200_000:
        return
    a = rng.uniform(100, 1500, a_shape)
    b = rng.uniform(100, 1500, b_shape)
    if kind == "int":
        a, b = a.astype(np.uint16), b.astype(np.uint16)
    elif kind == "nan" and a.size:
        a.flat[0] = np.nan
    try:
        FUNCTIONS[name](a, b)
    except PanSharpenError:
        pass
