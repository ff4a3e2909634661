"""The streamed-statistics helpers of ``pansharpen.classical._common``: strips mapped in threads."""
import numpy as np
import pytest

from pansharpen.classical import _lowpass
from pansharpen.classical._common import Moments, make_inputs, map_strips
from pansharpen.classical.registry import get_method
from pansharpen.runtime import compute_threads


def _scene(h=75, w=37, seed=8):
    rng = np.random.default_rng(seed)  # 75 MS rows: several groups of strips with a small chunk
    ms = rng.uniform(50, 2047, (8, h, w))
    return ms, np.tensordot(rng.uniform(0.05, 0.2, 8), np.repeat(np.repeat(ms, 4, 1), 4, 2), axes=1) + rng.normal(0, 40, (4 * h, 4 * w))


@pytest.mark.parametrize("threads", [1, 3])
def test_map_strips_gives_the_upsampled_strips_in_order(monkeypatch, threads):
    monkeypatch.setattr(_lowpass, "STRIP_CHUNK_BYTES", 40_000)  # many groups
    ms, pan = _scene()
    x = make_inputs(ms, pan, "WV3", 4)
    other = np.random.default_rng(1).uniform(0, 9, (2, 75, 37))
    with compute_threads(threads):
        got = list(map_strips(x, lambda r0, r1, s, o: (r0, r1, s.copy(), o.copy()), rows=7, others=(other,),
                              threaded=True))
    want = list(_lowpass.upsample_strips(ms, 4, rows=7))  # one group at a time, no threads
    assert [g[:2] for g in got] == [w[:2] for w in want]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g[2], w[2])
    np.testing.assert_array_equal(np.concatenate([g[3] for g in got], axis=1), _lowpass.upsample_interp23tap(other, 4))
    with compute_threads(threads):  # lms=False: the other images only
        only = list(map_strips(x, lambda r0, r1, o: o.shape, rows=7, others=(other,), lms=False, threaded=True))
    assert len(only) == len(want) and "lms" not in x.__dict__


def test_moments_add_is_summarize_then_merge():
    """add = merge(summarize(...)), bitwise, with the block centred in place (overwrite) or not."""
    blocks = [np.random.default_rng(i).normal(i, 1 + i, (3, 50 + i)) for i in range(4)]
    a, b = Moments(3, pairs=[(0, 1), (1, 2)]), Moments(3, pairs=[(0, 1), (1, 2)])
    for i, blk in enumerate(blocks):
        a.add(blk)
        b.merge(b.summarize(blk.copy(), overwrite=True) if i % 2 else b.summarize(blk))
    b.merge(b.summarize(np.zeros((3, 0))))  # an empty block changes nothing
    for attr in ("n", "mean", "m2", "cm"):
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
    np.testing.assert_allclose(a.var(), np.concatenate(blocks, axis=1).var(axis=1, ddof=1), rtol=1e-12)


@pytest.mark.parametrize("method", ["mtf-glp", "mtf-glp-fs", "mtf-glp-cbd", "mtf-glp-hpm-h", "awlp", "gsa", "bt-h", "pracs", "c-gsa"])
def test_threaded_scene_statistics_are_bitwise_those_of_one_thread(monkeypatch, method):
    """The streamed passes summarise strips in threads and merge them in order: the same bits."""
    monkeypatch.setattr(_lowpass, "STRIP_CHUNK_BYTES", 40_000)  # several groups, so the threads share them
    ms, pan = _scene()
    estimates = []
    for threads in (1, 3):
        with compute_threads(threads):
            estimates.append(get_method(method).estimate(ms, pan, "WV3", 4))
    one, many = estimates
    assert one.keys() == many.keys()
    for key in one:
        np.testing.assert_array_equal(np.asarray(one[key]), np.asarray(many[key]), err_msg=key)


def test_cov_matrix_is_numpys_covariance():
    rng = np.random.default_rng(4)
    data = rng.normal(size=(5, 5)) @ rng.normal(size=(5, 400)) + 100.0
    moments = Moments.every_pair(5)
    for a in range(0, 400, 70):
        moments.merge(moments.summarize(data[:, a : a + 70].copy()))
    np.testing.assert_allclose(moments.cov_matrix(ddof=1), np.cov(data), rtol=1e-12)
    assert np.isnan(Moments(3, pairs=[(0, 1)]).cov_matrix()[0, 2])  # untracked pairs are not made up


def test_streamed_least_squares_merges_block_factors_in_any_grouping():
    from pansharpen.classical._common import StreamedLeastSquares, lstsq, r_factor

    rng = np.random.default_rng(5)
    design = np.concatenate([np.ones((3000, 1)), rng.normal(size=(3000, 4)) * [1, 10, 100, 1000]], axis=1)
    target = design @ rng.normal(size=(5, 2)) + rng.normal(0, 0.1, (3000, 2))
    fit = StreamedLeastSquares(ndesign=5)
    for a in range(0, 3000, 700):  # each block reduced on its own (a pool thread's work), merged in order
        fit.merge(r_factor(np.concatenate([design[a : a + 700], target[a : a + 700]], axis=1)), len(design[a : a + 700]))
    assert fit.rows == 3000
    np.testing.assert_allclose(fit.solve("t"), lstsq(design, target, "t"), rtol=1e-11)


def test_r_factor_in_chunks_is_the_whole_products_r(monkeypatch):
    from pansharpen.classical import _common

    block = np.random.default_rng(6).normal(size=(5000, 7)) * np.arange(1, 8)
    whole = _common.r_factor(block)
    monkeypatch.setattr(_common, "GRAM_CHUNK", 333)
    np.testing.assert_allclose(np.abs(_common.r_factor(block)), np.abs(whole), rtol=1e-13, atol=1e-13 * np.abs(whole).max())


def test_safe_denominator_moves_only_values_near_zero():
    from pansharpen.classical._common import safe_denominator

    den = np.array([1000.0, -2e-7, 0.0, 3e-7, -50.0])
    got = safe_denominator(den)
    tiny = 1e-9 * 1000.0
    np.testing.assert_array_equal(got, [1000.0, -tiny, tiny, tiny, -50.0])
    usual = np.array([5.0, -3.0, 2.0])
    assert safe_denominator(usual) is usual  # nothing to move: no copy


def test_safe_divide_is_the_plain_guarded_division():
    """The one ratio of HPM, HPM-H, MF and BT-H: num / den with |den| floored at 1e-9 max(max |den|, 1), its sign kept."""
    from pansharpen.classical._common import safe_divide

    rng = np.random.default_rng(8)
    num, den = rng.uniform(1, 2047, (2, 30, 20))
    for case in ("positive", "zeros", "negative tiny"):
        d = den.copy()
        if case != "positive":
            d[3, 4], d[5, 6] = (0.0, -0.0) if case == "zeros" else (-1e-12, 1e-13)
        tiny = 1e-9 * max(float(np.abs(d).max()), 1.0)
        plain = num / np.where(np.abs(d) < tiny, np.where(d < 0, -tiny, tiny), d)
        np.testing.assert_array_equal(safe_divide(num, d), plain)
