"""The consistency projection: it is the orthogonal projection onto {F : reproject(F) = MS} (checked
against conjugate gradients with autograd's exact adjoint), tiles exactly, and never moves an image
away from a consistent ground truth."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pansharpen.errors import ShapeError
from pansharpen.metrics.reprojection import reproject
from pansharpen.protocol.consistency import _adjoint, consistency_filters, consistency_reach, project_consistent
from pansharpen.protocol.mtf import mtf_kernels

GAINS = (0.34, 0.32, 0.30, 0.22)


def _smooth(rng, shape, sigma):
    from scipy.ndimage import gaussian_filter

    return np.stack([gaussian_filter(rng.standard_normal(shape[-2:]), sigma) for _ in range(shape[0])])


def _pair(size=256, seed=0, gains=GAINS):
    """A ground truth, its consistent MS, and a fused image off it at every scale."""
    rng = np.random.default_rng(seed)
    c = len(gains)
    gt = 1000 + 300 * _smooth(rng, (c, size, size), 2) / 0.1
    fused = gt + 30 * rng.standard_normal(gt.shape) + 2000 * _smooth(rng, gt.shape, 6)
    return gt, np.asarray(reproject(gt, gains, 4)), fused


def test_the_adjoint_is_exact_away_from_the_border():
    rng = np.random.default_rng(1)
    x = np.zeros((1, 4, 96, 96))
    x[..., 24:-24, 24:-24] = rng.standard_normal((1, 4, 48, 48))  # beyond the kernel's reach of the border
    z = rng.standard_normal((1, 4, 24, 24))
    lhs = float((np.asarray(reproject(x, GAINS, 4)) * z).sum())
    rhs = float((x * _adjoint(z, GAINS, 4, x.shape)).sum())
    assert lhs == pytest.approx(rhs, rel=1e-12)
    k = mtf_kernels((0.1, 0.3, 0.45), 3)  # the adjoint uses the kernels unflipped: they are point-symmetric
    np.testing.assert_array_equal(k, k[:, ::-1, ::-1])


def test_it_is_the_orthogonal_projection_computed_by_conjugate_gradients():
    """The plain computation: P(F) = F + A^T y with (A A^T) y = MS - A F solved by CG, A the
    reprojection and A^T its exact adjoint (autograd), on one band with a sharp MTF (short reach)."""
    gains = (0.45,)
    gt, ms, fused = _pair(192, seed=2, gains=gains)
    f = torch.from_numpy(fused)[None]
    x0 = torch.zeros_like(f, requires_grad=True)
    ax0 = reproject(x0, gains, 4)

    def at(z):
        return torch.autograd.grad(ax0, x0, z, retain_graph=True)[0]

    rhs = torch.from_numpy(ms)[None] - reproject(f, gains, 4)
    y, res = torch.zeros_like(rhs), rhs.clone()
    p, rs = res.clone(), (res * res).sum()
    for _ in range(300):
        ap = reproject(at(p), gains, 4)
        a = rs / (p * ap).sum()
        y, res = y + a * p, res - a * ap
        rn = (res * res).sum()
        if rn.sqrt() < 1e-13 * rhs.norm():
            break
        p, rs = res + rn / rs * p, rn
    exact = (f + at(y))[0].numpy()
    ours = project_consistent(fused, ms, gains, 4, floor=0.0)
    reach = consistency_reach(gains, 4, floor=0.0)
    inner = (slice(None), slice(reach, -reach), slice(reach, -reach))
    assert ours[inner].size > 0 and np.abs(exact - fused)[inner].max() > 100  # a real correction
    np.testing.assert_allclose(ours[inner], exact[inner], rtol=0, atol=1e-3)  # of corrections of hundreds


def test_the_projection_gives_the_ms_back_and_is_idempotent():
    gt, ms, fused = _pair()
    before = np.abs(np.asarray(reproject(fused, GAINS, 4)) - ms)
    out = project_consistent(fused, ms, GAINS, 4, floor=0.0)
    after = np.abs(np.asarray(reproject(out, GAINS, 4)) - ms)
    assert before[:, 8:-8, 8:-8].max() > 100
    assert after[:, 8:-8, 8:-8].max() < 1e-3  # inside; at the border the zero-padded adjoint under-corrects
    assert after.max() < 0.5 * before.max()
    again = project_consistent(out, ms, GAINS, 4, floor=0.0)
    r = consistency_reach(GAINS, 4, floor=0.0)  # the border's residual corrected again reaches this far
    np.testing.assert_allclose(again[:, r:-r, r:-r], out[:, r:-r, r:-r], rtol=0, atol=1e-3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_it_never_moves_an_image_away_from_a_consistent_ground_truth(seed):
    gt, ms, fused = _pair(seed=seed)
    out = project_consistent(fused, ms, GAINS, 4)
    for k in range(4):  # band by band (ERGAS cannot rise)
        assert np.linalg.norm(out[k] - gt[k]) < np.linalg.norm(fused[k] - gt[k])


def test_tiles_equal_the_whole_image_beyond_the_reach():
    gt, ms, fused = _pair(320, seed=3)
    whole = project_consistent(fused, ms, GAINS, 4)
    reach = consistency_reach(GAINS, 4)
    k = 8  # MS pixels cut on each side
    crop = project_consistent(fused[:, 4 * k:-4 * k, 4 * k:-4 * k], ms[:, k:-k, k:-k], GAINS, 4)
    inner = crop[:, reach:-reach, reach:-reach]
    assert inner.size > 0
    np.testing.assert_allclose(inner, whole[:, 4 * k + reach: -4 * k - reach, 4 * k + reach: -4 * k - reach],
                               rtol=0, atol=1e-9)
    near = np.abs(crop[:, 2:-2, 2:-2] - whole[:, 4 * k + 2: -4 * k - 2, 4 * k + 2: -4 * k - 2]).max()
    assert near > 1e-3  # the reach is needed


def test_torch_equals_numpy_and_is_differentiable():
    gt, ms, fused = _pair(96)
    want = project_consistent(fused, ms, GAINS, 4)
    f = torch.from_numpy(fused[None]).requires_grad_()
    got = project_consistent(f, torch.from_numpy(ms[None]), GAINS, 4)
    np.testing.assert_allclose(got.detach().numpy()[0], want, rtol=0, atol=1e-9)
    got.square().mean().backward()
    assert f.grad is not None and torch.isfinite(f.grad).all()


def test_the_inverse_filter_decays_and_bad_pairs_are_refused():
    g = consistency_filters(GAINS, 4)
    assert g.shape[0] == 4 and g.shape[1] == g.shape[2] and g.shape[1] % 2 == 1
    assert np.abs(g[:, 0, :]).max() < 1e-5 * np.abs(g).max()  # truncated where it has decayed
    _, ms, fused = _pair(64)
    with pytest.raises(ShapeError):
        project_consistent(fused[:, :-1], ms, GAINS, 4)
    with pytest.raises(ShapeError):
        project_consistent(fused, ms[:3], GAINS, 4)
    with pytest.raises(ShapeError):
        project_consistent(fused, ms, GAINS[:3], 4)
