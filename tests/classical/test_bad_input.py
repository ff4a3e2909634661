"""Bad input: clear exceptions (errors.py) or documented fallbacks, for every classical method."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from pansharpen.classical import SingularRegressionWarning, fuse_classical, get_method, list_methods
from pansharpen.errors import ShapeError, ValueRangeError

ALL = list_methods()
WITH_STATS = [n for n in ALL if get_method(n).global_stats]


def test_methods_with_scene_statistics_are_the_expected_ones():
    assert set(ALL) - set(WITH_STATS) == {"exp", "brovey", "mtf-glp-hpm", "mf"}


@pytest.mark.parametrize("name", ALL)
def test_pan_size_must_be_ratio_times_ms(pair, name):
    ms, pan, _ = pair
    with pytest.raises(ShapeError, match="LOW-resolution MS"):
        fuse_classical(name, ms, pan[:, :-4, :], "QB", 4)
    with pytest.raises(ShapeError, match="must be 48x48"):
        fuse_classical(name, ms, pan, "QB", 2)  # 96 != 2 * 24


@pytest.mark.parametrize("ratio", [0, 1, 2.5, True])
def test_invalid_ratio(pair, ratio):
    ms, pan, _ = pair
    with pytest.raises(ShapeError, match="ratio"):
        fuse_classical("gsa", ms, pan, "QB", ratio)


@pytest.mark.parametrize("ratio", [3, 6])
def test_every_method_works_at_ratios_that_are_not_powers_of_two(make_pair, ratio):
    from pansharpen.classical import list_methods

    ms, pan, _ = make_pair(size=24, ratio=ratio)
    for name in list_methods():
        options = {"block": 24 * ratio} if name == "bdsd" else {}  # BDSD: block a multiple of the ratio
        fused = np.asarray(fuse_classical(name, ms, pan, "QB", ratio, **options))
        assert fused.shape == (4, 24 * ratio, 24 * ratio) and np.isfinite(fused).all(), name


def test_wrong_ranks_and_band_counts(pair):
    ms, pan, _ = pair
    with pytest.raises(ShapeError, match="channels-first"):
        fuse_classical("gsa", ms[0], pan, "QB", 4)
    with pytest.raises(ShapeError, match="exactly one band"):
        fuse_classical("gsa", ms, np.concatenate([pan, pan]), "QB", 4)
    with pytest.raises(ShapeError, match="pair them one to one"):
        fuse_classical("gsa", np.stack([ms, ms]), pan[None], "QB", 4)
    from pansharpen.errors import SensorError

    with pytest.raises(SensorError, match="4 bands but the data has 3"):
        fuse_classical("gsa", ms[:3], pan, "QB", 4)  # QB has 4 bands


@pytest.mark.parametrize("what", ["nan-ms", "inf-pan"])
@pytest.mark.parametrize("name", ["gsa", "mtf-glp", "brovey"])
def test_nan_and_inf_are_refused(pair, name, what):
    ms, pan, _ = pair
    ms, pan = ms.copy(), pan.copy()
    if what == "nan-ms":
        ms[1, 3, 4] = np.nan
    else:
        pan[0, 10, 10] = np.inf
    with pytest.raises(ValueRangeError, match="NaN or inf.*nodata"):
        fuse_classical(name, ms, pan, "QB", 4)


@pytest.mark.parametrize(
    "bad", [np.zeros((4, 24, 24), dtype=complex), np.zeros((4, 24, 24), dtype=bool), np.full((4, 24, 24), "a")]
)
def test_wrong_dtypes(pair, bad):
    _, pan, _ = pair
    with pytest.raises(ValueRangeError):
        fuse_classical("gsa", bad, pan, "QB", 4)


def test_torch_complex_refused(pair):
    ms, pan, _ = pair
    with pytest.raises(ValueRangeError, match="real"):
        fuse_classical("gsa", torch.zeros(4, 24, 24, dtype=torch.complex64), pan, "QB", 4)


@pytest.mark.parametrize("value", [0.0, 700.0])
@pytest.mark.parametrize("name", WITH_STATS)
def test_constant_or_zero_pan_is_refused_by_methods_with_statistics(pair, name, value):
    ms, pan, _ = pair
    with pytest.raises(ValueRangeError, match="PAN is constant"):
        fuse_classical(name, ms, np.full_like(pan, value), "QB", 4)


@pytest.mark.parametrize("name", ["exp", "brovey", "mtf-glp-hpm", "mf"])
def test_constant_pan_without_statistics_still_fuses(pair, name):
    ms, pan, _ = pair
    out = fuse_classical(name, ms, np.full_like(pan, 700.0), "QB", 4)
    assert np.isfinite(out).all()


@pytest.mark.parametrize("name", ALL)
def test_band_with_zero_variance_gives_finite_output(pair, name):
    ms, pan, _ = pair
    ms = ms.copy()
    ms[2] = 250.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularRegressionWarning)
        out = fuse_classical(name, ms, pan, "QB", 4)
    assert np.isfinite(out).all()
    if name in ("gs", "gsa", "c-gsa", "mtf-glp-fs", "mtf-glp-cbd", "mtf-glp"):
        # zero-variance band: zero injection gain / zero equalisation scale (documented fallback)
        assert out[2].std() < 1e-3 * out[0].std()


@pytest.mark.parametrize("name", ["gs", "gsa", "c-gsa", "bt-h", "pracs"])
def test_all_bands_constant_is_refused_by_cs_methods(pair, name):
    _, pan, _ = pair
    with pytest.raises(ValueRangeError, match="constant"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SingularRegressionWarning)
            fuse_classical(name, np.full((4, 24, 24), 300.0), pan, "QB", 4)


def test_collinear_bands_warn_and_use_minimum_norm_regression(pair):
    ms, pan, _ = pair
    ms = np.repeat(ms[:1], 4, axis=0)  # four identical bands: singular GSA regression
    with pytest.warns(SingularRegressionWarning, match="GSA intensity regression.*rank deficient"):
        out = fuse_classical("gsa", ms, pan, "QB", 4)
    assert np.isfinite(out).all()


@pytest.mark.parametrize("name", ["bdsd", "bdsd-pc", "bt-h", "c-gsa", "pracs", "mtf-glp-hpm-h"])
def test_singular_regressions_fall_back_with_a_warning_or_stay_finite(pair, name):
    """Identical bands (a flat spectral region) make the BDSD blocks and GSA-type fits singular."""
    ms, pan, _ = pair
    ms = np.repeat(ms[:1], 4, axis=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # generic sensor: one MTF gain for every band, so the degraded bands stay identical too
        out = get_method(name)(ms, pan, None, 4, **({"block": 32} if name == "bdsd" else {}))
    assert np.isfinite(out).all()
    if name in ("bdsd", "bt-h", "c-gsa", "pracs", "mtf-glp-hpm-h"):
        assert any(issubclass(w.category, SingularRegressionWarning) for w in caught)


def test_bdsd_fits_on_a_crop_when_the_ms_size_is_not_a_multiple_of_the_ratio(make_pair):
    ms, pan, _ = make_pair(size=22)  # 22 is not a multiple of 4: the fit uses the 20x20 crop
    params = get_method("bdsd").estimate(ms, pan, "QB", 4, block=40)
    assert params["gamma"].shape[:2] == (2, 2)  # 20 LR px = 80 PAN px = 2 blocks of 40
    out = get_method("bdsd")(ms, pan, "QB", 4, block=40)
    assert out.shape == (4, 88, 88) and np.isfinite(out).all()
    with pytest.raises(ShapeError, match="at least 4x4"):
        get_method("bdsd")(ms[:, :3, :3], pan[:, :12, :12], "QB", 4)


def test_bdsd_block_must_be_a_multiple_of_the_ratio(make_pair):
    ms, pan, _ = make_pair()
    with pytest.raises(ShapeError, match="block size"):
        get_method("bdsd")(ms, pan, "QB", 4, block=30)


def test_options_params_and_lms_are_checked(pair):
    ms, pan, _ = pair
    with pytest.raises(TypeError, match="unknown option.*blok.*allowed: block"):
        get_method("bdsd")(ms, pan, "QB", 4, blok=64)
    params = get_method("gsa").estimate(ms, pan, "QB", 4)
    with pytest.raises(ValueError, match="estimated by 'gsa'"):
        get_method("gs").apply(ms, pan, params)
    with pytest.raises(ShapeError, match="ratio 2 differs"):
        get_method("gsa").apply(ms, pan, params, None, 2)
    with pytest.raises(ShapeError, match="lms must be"):
        get_method("gsa")(ms, pan, "QB", 4, lms=np.zeros((4, 24, 24)))
    with pytest.raises(ShapeError, match="one image"):
        get_method("gsa").estimate(ms[None], pan[None], "QB", 4)


def test_brovey_weights_are_checked(pair):
    ms, pan, _ = pair
    with pytest.raises(ShapeError, match="one weight per MS band"):
        fuse_classical("brovey", ms, pan, None, 4, weights=[1, 1, 1])
    with pytest.raises(ValueRangeError, match="non-negative"):
        fuse_classical("brovey", ms, pan, None, 4, weights=[1, -1, 1, 1])


def test_estimate_on_a_decimated_scene_tolerates_a_partial_last_pixel(make_pair):
    """The scene pipeline estimates on strided reads whose PAN may miss < ratio pixels."""
    ms, pan, _ = make_pair(size=24)
    params = get_method("gsa").estimate(ms[:, ::2, ::2], pan[:, ::2, ::2][:, :-2, :-2], "QB", 4)
    assert params["gain"].shape == (4,)
