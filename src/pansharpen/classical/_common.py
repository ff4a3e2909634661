"""Shared plumbing of the classical methods: input checks, the method object, statistics helpers.

Every method is split in two (so that a tiled scene pipeline estimates once per scene):

* ``estimate(ms, pan, sensor, ratio) -> params``: the global statistics (regression weights,
  injection gains, equalisation moments, block coefficients, cluster centres) as a plain dict
  of floats and numpy arrays;
* ``apply(ms, pan, params, offset=(0, 0)) -> fused``: a pixel-wise / filter-local computation
  that only needs ``params``, so that applying it to a haloed tile of the scene gives the same
  pixels as applying it to the whole scene.

The plain call ``method(ms, pan, sensor, ratio)`` is ``apply(estimate(...))`` on the same inputs
(intermediate images such as the interp23tap upsampling are computed once and shared).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

import numpy as np

from .._arrays import check_finite, is_torch, restore, to_numpy, torch_module
from ..errors import ShapeError, ValueRangeError
from ..protocol.interp import upsample
from ..protocol.policy import resolve_sensor as _sensor_policy
from ..protocol.sensors import Sensor
from ..runtime import map_in_order, statistics_threads
from . import _lowpass
from ._lowpass import (
    group_strips,
    interp_halo,
    strip_groups,
    upsample_interp23tap,
    upsample_rows,
)

Params = dict[str, Any]


class SingularRegressionWarning(RuntimeWarning):
    """A least-squares fit was rank deficient; the minimum-norm solution was used."""


# ----------------------------------------------------------------------------------------------
# Input checking
# ----------------------------------------------------------------------------------------------


def check_ratio(ratio, power_of_two: bool = False) -> int:
    """Return ``ratio`` as an int >= 2 (a power of two when ``power_of_two``); a :class:`ShapeError` otherwise.

    Any integer works for the methods: the MS is upsampled with interp23tap at powers of two and
    with the toolbox's general FIR interpolator otherwise (:func:`pansharpen.protocol.interp.upsample`)."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, np.integer, float)) or int(ratio) != ratio:
        raise ShapeError(f"ratio must be an integer (4 for most sensors); got {ratio!r}")
    r = int(ratio)
    if r < 2 or (power_of_two and r & (r - 1)):
        raise ShapeError(
            f"ratio {r} is not supported by this method, which needs a power of two >= 2 (2, 4, 8, ...); "
            "use a method that works at any ratio (e.g. mtf-glp-fs, gsa)"
        )
    return r


def _as_real_array(x, name: str) -> np.ndarray:
    if is_torch(x):
        if x.is_complex():
            raise ValueRangeError(f"{name} must hold real numbers; got complex dtype {x.dtype}")
        if x.dtype == torch_module().bool:
            raise ValueRangeError(f"{name} must hold digital numbers; got a boolean mask")
        return to_numpy(x, dtype=None)
    arr = np.asarray(x)
    if arr.dtype == np.bool_:
        raise ValueRangeError(f"{name} must hold digital numbers; got a boolean mask")
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise ValueRangeError(f"{name} must be a numeric array; got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise ValueRangeError(f"{name} must hold real numbers; got complex dtype {arr.dtype}")
    return arr


def split_batch(ms, pan) -> tuple[list[np.ndarray], list[np.ndarray], bool]:
    """Check shapes and return per-image float64 arrays ``ms (C, h, w)`` and ``pan (H, W)``.

    ``ms`` is ``(C, h, w)`` or ``(N, C, h, w)``; ``pan`` is ``(H, W)``, ``(1, H, W)`` or
    ``(N, 1, H, W)``. Returns ``(ms_list, pan_list, batched)``.
    """
    ms_a = _as_real_array(ms, "ms")
    pan_a = _as_real_array(pan, "pan")
    if ms_a.ndim == 3:
        ms_b, batched = ms_a[None], False
    elif ms_a.ndim == 4:
        ms_b, batched = ms_a, True
    else:
        raise ShapeError(
            f"ms must be (C, h, w) or (N, C, h, w) channels-first; got shape {ms_a.shape}. "
            "If it is (h, w, C), transpose it with arr.transpose(2, 0, 1)."
        )
    if pan_a.ndim == 2:
        pan_b = pan_a[None, None]
    elif pan_a.ndim == 3:
        pan_b = pan_a[None]
    elif pan_a.ndim == 4:
        pan_b = pan_a
    else:
        raise ShapeError(f"pan must be (H, W), (1, H, W) or (N, 1, H, W); got shape {pan_a.shape}")
    if pan_b.shape[1] != 1:
        raise ShapeError(
            f"pan must have exactly one band; got {pan_b.shape[1]} (shape {pan_a.shape}). "
            "Pass the panchromatic band only, channels-first."
        )
    if pan_b.shape[0] != ms_b.shape[0]:
        raise ShapeError(f"ms has {ms_b.shape[0]} image(s) but pan has {pan_b.shape[0]}; pair them one to one")
    if ms_b.shape[1] < 1 or min(ms_b.shape[2:]) < 1:
        raise ShapeError(f"ms is empty (shape {ms_a.shape})")
    check_finite(ms_b, "ms")
    check_finite(pan_b, "pan")
    ms_list = [np.asarray(m, dtype=np.float64) for m in ms_b]
    pan_list = [np.asarray(p[0], dtype=np.float64) for p in pan_b]
    return ms_list, pan_list, batched


def check_sizes(ms: np.ndarray, pan: np.ndarray, ratio: int) -> None:
    """Raise :class:`ShapeError` unless ``pan`` is exactly ``ratio`` times the MS size."""
    h, w = ms.shape[-2:]
    if pan.shape[-2:] != (ratio * h, ratio * w):
        raise ShapeError(
            f"pan is {pan.shape[-2]}x{pan.shape[-1]} but ms is {h}x{w}: with ratio {ratio} pan must be "
            f"{ratio * h}x{ratio * w}. Pass the LOW-resolution MS (not the upsampled one) and the "
            "matching ratio, or crop both to a common footprint."
        )


def resolve_sensor(sensor, nbands: int) -> Sensor:
    """A :class:`Sensor` for ``nbands`` bands by the sensor policy (arrays carry no metadata, so
    ``None`` means the toolbox default gains, as ``--sensor none``)."""
    return _sensor_policy("none" if sensor is None else sensor, nbands=nbands)[0]


def _common_footprint(ms: np.ndarray, pan: np.ndarray, ratio: int) -> tuple[np.ndarray, np.ndarray]:
    """Crop a pair whose sizes disagree by less than one MS pixel to the common footprint.

    Scene statistics are often estimated on strided reads of the two rasters, where the PAN can
    lack the last ``< ratio`` pixels; larger disagreements are left to :func:`check_sizes`.
    """
    h, w = ms.shape[-2:]
    hh, ww = pan.shape[-2:]
    if (hh, ww) == (ratio * h, ratio * w) or abs(hh - ratio * h) >= ratio or abs(ww - ratio * w) >= ratio:
        return ms, pan
    h2, w2 = min(h, hh // ratio), min(w, ww // ratio)
    return ms[:, :h2, :w2], pan[: ratio * h2, : ratio * w2]


# ----------------------------------------------------------------------------------------------
# Inputs shared by estimate and apply
# ----------------------------------------------------------------------------------------------


@dataclass
class Inputs:
    """One image pair in float64 with lazily computed, shared intermediates.

    Attributes:
        ms: low-resolution MS, ``(C, h, w)``.
        pan: PAN, ``(H, W)`` with ``H = ratio * h``.
        sensor: the sensor (MTF gains).
        ratio: power-of-two resolution ratio.
    """

    ms: np.ndarray
    pan: np.ndarray
    sensor: Sensor
    ratio: int
    given_lms: np.ndarray | None = None
    cache: dict = field(default_factory=dict)

    @cached_property
    def lms(self) -> np.ndarray:
        """The MS upsampled to the PAN grid (EXP: interp23tap, or the general interpolator at ratios
        that are not powers of two), ``(C, H, W)``."""
        if self.given_lms is not None:
            return self.given_lms

        return np.asarray(upsample(self.ms, self.ratio), dtype=np.float64)

    @property
    def nbands(self) -> int:
        return self.ms.shape[0]

    @property
    def lms_is_upsampled_ms(self) -> bool:
        """``MS~`` is ``upsample(ms)`` (phase 0), not a caller's own: its moments then follow from the
        MS's spectra (:class:`~pansharpen.classical._upsampled_moments.UpsampledMoments`)."""
        return self.given_lms is None

    @property
    def lms_is_whole(self) -> bool:
        """Rows of ``MS~`` come from the whole ``lms`` (given, already computed, or a ratio that is not
        a power of two: the general interpolator works on whole images), not from strips."""
        return self.given_lms is not None or "lms" in self.__dict__ or bool(self.ratio & (self.ratio - 1))

    def lms_rows(self, r0: int, r1: int) -> np.ndarray:
        """Rows ``r0:r1`` of ``MS~`` (bitwise those of ``lms``) without building it at powers of two."""
        return self.lms[:, r0:r1] if self.lms_is_whole else upsample_rows(self.ms, self.ratio, r0, r1)


def map_strips(x: Inputs, fn: Callable[..., Any], rows: int = 32, others: tuple[np.ndarray, ...] = (), lms: bool = True,
               threaded: bool = False):
    """Yield ``fn(R0, R1, *strips)`` for consecutive strips of ``rows`` MS rows, in order: ``strips``
    are the rows ``R0:R1`` of ``MS~`` (bitwise those of ``x.lms``, which is not built unless it
    exists: :attr:`Inputs.lms_is_whole`; left out with ``lms=False``) and of each of ``others``,
    MS-grid images ``(C', h, w)`` upsampled like the MS.

    Groups of strips (:func:`~pansharpen.classical._lowpass.strip_groups`) are upsampled and passed
    to ``fn`` one group at a time, or, ``threaded``, by several threads at once
    (:func:`map_in_order`): ``fn`` must then not touch shared state: it summarises its strips
    (e.g. :meth:`Moments.summarize`) and the caller merges the results in order, which gives
    bitwise the results of one thread (every strip is bitwise the whole upsampled image's rows,
    whatever the grouping). Memory: one group (64 MB of upsampled rows) and ``fn``'s work per
    thread. Threads pay only where ``fn`` does more than sum the strips (PRACS's passes: 1.2x on
    the full WV3 scene); for plain moments (GSA, MTF-GLP) a second thread gained nothing there and
    held 100-150 MB more (docs/performance.md).
    """
    h, w, ratio = x.ms.shape[1], x.ms.shape[2], x.ratio
    if ratio & (ratio - 1):  # the general interpolator: whole images, sliced
        ups = ([x.lms] if lms else []) + [upsample_interp23tap(o, ratio) for o in others]
        for r0 in range(0, h * ratio, rows * ratio):
            r1 = min(h * ratio, r0 + rows * ratio)
            yield fn(r0, r1, *(u[:, r0:r1] for u in ups))
        return
    channels = (x.nbands if lms else 0) + sum(o.shape[0] for o in others)
    # threaded: groups of half the size, so the threads together hold what one thread held (the
    # strips, and so the results, are the same whatever the grouping)
    chunk = _lowpass.STRIP_CHUNK_BYTES // (statistics_threads() if threaded else 1)
    groups = strip_groups((max(channels, 1), h, w), ratio, rows, chunk)
    whole = x.lms if lms and x.lms_is_whole else None

    def run(group):
        g0, g1 = group
        stacks = [group_strips(o, ratio, group, rows) for o in others]
        if whole is not None:
            stacks.insert(0, [(i * ratio, min(g1, i + rows) * ratio, whole[:, i * ratio : min(g1, i + rows) * ratio])
                              for i in range(g0, g1, rows)])
        elif lms:
            stacks.insert(0, group_strips(x.ms, ratio, group, rows))
        spans = [(i * ratio, min(g1, i + rows) * ratio) for i in range(g0, g1, rows)]
        return [fn(r0, r1, *(st[j][2] for st in stacks)) for j, (r0, r1) in enumerate(spans)]

    for results in map_in_order(groups, run) if threaded else map(run, groups):
        yield from results


class Moments:
    """Streamed means, variances and co-moments (Chan, Golub, LeVeque's pairwise update): add blocks
    of samples with :meth:`add`, read ``mean``, ``var(ddof)`` and ``cov``. Equal to numpy's whole-array
    two-pass results up to float64 rounding (about 1e-15 relative).

    Tracks ``V`` variables ``(V, n)`` per block; ``pairs`` lists the ``(i, j)`` co-moments to keep.
    """

    def __init__(self, nvars: int, pairs=()):
        self.n = 0
        self.mean = np.zeros(nvars)
        self.m2 = np.zeros(nvars)
        self.pairs = list(pairs)
        self.cm = np.zeros(len(self.pairs))

    def add(self, block: np.ndarray) -> None:
        """``block`` ``(V, n_b)`` float64 samples of the V variables: :meth:`merge` of :meth:`summarize`."""
        self.merge(self.summarize(block))

    def summarize(self, block: np.ndarray, overwrite: bool = False):
        """The block's own count, means, second moments and co-moments (None for an empty block).
        Reads no running state, so threads may summarize blocks that are merged in order later.
        ``overwrite``: centre ``block`` in place (a block built for this call: one copy less, the
        same values)."""
        nb = block.shape[1]
        if nb == 0:
            return None
        mb = block.mean(axis=1)
        centred = np.subtract(block, mb[:, None], out=block) if overwrite else block - mb[:, None]
        gram = centred @ centred.T  # one pass over the block for every (co-)moment
        return nb, mb, np.diag(gram).copy(), np.array([gram[i, j] for i, j in self.pairs])

    def merge(self, summary) -> None:
        """Combine a :meth:`summarize` result into the running moments (the pairwise update)."""
        if summary is None:
            return
        nb, mb, m2b, cmb = summary
        na, n = self.n, self.n + nb
        delta = mb - self.mean
        dpairs = np.array([delta[i] * delta[j] for i, j in self.pairs])
        self.m2 = self.m2 + m2b + delta**2 * na * nb / n
        if self.pairs:
            self.cm = self.cm + cmb + dpairs * na * nb / n
        self.mean = self.mean + delta * nb / n
        self.n = n

    def var(self, ddof: int = 1) -> np.ndarray:
        return self.m2 / (self.n - ddof) if self.n > ddof else np.zeros_like(self.m2)

    def cov(self, ddof: int = 1) -> np.ndarray:
        return self.cm / (self.n - ddof) if self.n > ddof else np.zeros_like(self.cm)

    @classmethod
    def every_pair(cls, nvars: int) -> Moments:
        """Moments tracking the co-moments of every pair of the ``nvars`` variables (:meth:`cov_matrix`)."""
        return cls(nvars, pairs=[(i, j) for i in range(nvars) for j in range(i + 1, nvars)])

    def cov_matrix(self, ddof: int = 1) -> np.ndarray:
        """``(V, V)`` covariance matrix: the variances and the tracked co-moments (NaN where untracked)."""
        out = np.full((len(self.mean), len(self.mean)), np.nan)
        np.fill_diagonal(out, self.var(ddof))
        for (i, j), c in zip(self.pairs, self.cov(ddof)):
            out[i, j] = out[j, i] = c
        return out


def make_inputs(ms: np.ndarray, pan: np.ndarray, sensor, ratio: int, lms=None) -> Inputs:
    check_sizes(ms, pan, ratio)
    sensor_obj = resolve_sensor(sensor, ms.shape[0])
    given = None
    if lms is not None:
        given = np.asarray(to_numpy(lms), dtype=np.float64)
        if given.ndim == 4 and given.shape[0] == 1:
            given = given[0]
        if given.shape != (ms.shape[0], *pan.shape):
            raise ShapeError(f"lms must be {(ms.shape[0], *pan.shape)} (MS upsampled to the PAN grid); got {given.shape}")
        check_finite(given, "lms")
    return Inputs(ms, pan, sensor_obj, ratio, given)


# ----------------------------------------------------------------------------------------------
# Statistics helpers
# ----------------------------------------------------------------------------------------------


def band_mean(x: np.ndarray) -> np.ndarray:
    """Mean of each band of ``(C, H, W)`` -> ``(C,)``."""
    return x.reshape(x.shape[0], -1).mean(axis=1)


def band_std(x: np.ndarray) -> np.ndarray:
    """Standard deviation (N-1, MATLAB ``std2``) of each band of ``(C, H, W)`` -> ``(C,)``."""
    flat = x.reshape(x.shape[0], -1)
    return flat.std(axis=1, ddof=1) if flat.shape[1] > 1 else np.zeros(x.shape[0])


def covariance(a: np.ndarray, b: np.ndarray) -> float:
    """Sample covariance (N-1) of two equally shaped arrays."""
    a = a.ravel()
    b = b.ravel()
    n = a.size
    if n < 2:
        return 0.0
    return float(np.dot(a - a.mean(), b - b.mean()) / (n - 1))


def safe_denominator(den: np.ndarray) -> np.ndarray:
    """``den`` with its values nearer 0 than ``1e-9 max(max |den|, 1)`` moved to that distance, their
    sign kept (0 goes up): the divisor of the ratio methods (HPM, HPM-H, MF, BT-H, PRACS), finite
    where a low-pass or intensity image touches 0. ``den`` itself (no copy) in the usual case."""
    size = np.abs(den)
    tiny = 1e-9 * max(float(size.max()), 1.0)
    if float(size.min()) >= tiny:
        return den
    return np.where(size < tiny, np.where(den < 0, -tiny, tiny), den)


def safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with :func:`safe_denominator`: the ratio image of the multiplicative methods
    (HPM, HPM-H, MF, BT-H), finite where the low-pass or intensity image touches 0 (dark water, strong
    equalisation)."""
    return num / safe_denominator(den)


def safe_ratio(num: float, den: float, fallback: float = 0.0) -> float:
    """``num / den`` or ``fallback`` where ``den`` is zero (a zero-variance band injects nothing)."""
    return float(num / den) if den > 0 else fallback


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; 0 where either input is constant."""
    sa = a.std()
    sb = b.std()
    if sa == 0 or sb == 0:
        return 0.0
    return float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))


def lstsq(design: np.ndarray, target: np.ndarray, what: str, rcond=None) -> np.ndarray:
    """Least squares ``design @ x ~= target`` with a rank check.

    Rank-deficient systems (flat regions, collinear bands) get the minimum-norm solution and a
    :class:`SingularRegressionWarning` naming ``what``. ``rcond``: numpy's (default: machine
    epsilon times the larger dimension of ``design``).
    """
    x, _, rank, _ = np.linalg.lstsq(design, target, rcond=rcond)
    if rank < design.shape[1]:
        warnings.warn(
            f"{what}: the regression is rank deficient (rank {rank} < {design.shape[1]} unknowns, "
            "e.g. flat regions or identical bands); using the minimum-norm least-squares solution",
            SingularRegressionWarning,
            stacklevel=3,
        )
    return x


#: Rows of ``Q1`` per product in :func:`r_factor` (8192 x 18 float64 = 1.2 MB, an L2 cache).
GRAM_CHUNK = 8192


def r_factor(block: np.ndarray, max_cond: float = 1e6) -> np.ndarray:
    """The R of a QR factorisation of a tall ``(m, n)`` block, ``(min(m, n), n)`` (rows' signs may differ).

    CholeskyQR2 (Fukaya et al., 'CholeskyQR2: a simple and communication-avoiding algorithm for
    computing a tall-skinny QR factorization', ScalA 2014): ``R1 = chol(A^T A)``, ``Q1 = A R1^-1``,
    ``R = chol(Q1^T Q1) R1``, two Gram products at BLAS-3 speed, as accurate as Householder QR for
    ``cond(A) < 1e8``; blocks with fewer rows than columns or ``cond(R1) > max_cond`` (a margin on
    that bound) take Householder QR (``numpy.linalg.qr``). ``Q1`` is formed and summed
    :data:`GRAM_CHUNK` rows at a time, in cache (1.35x faster on a 214k x 18 block than whole).
    Any layout of ``block`` (a transposed C array is read in place).
    """
    m, n = block.shape
    if m >= n:
        try:
            r1 = np.linalg.cholesky(block.T @ block).T
            if np.linalg.cond(r1) <= max_cond:
                inverse = np.linalg.inv(r1)
                gram = np.zeros((n, n))
                for i in range(0, m, GRAM_CHUNK):
                    q1 = solve_right_upper(block[i : i + GRAM_CHUNK], r1, inverse)
                    gram += q1.T @ q1
                return np.linalg.cholesky(gram).T @ r1
        except np.linalg.LinAlgError:
            pass
    return np.linalg.qr(block, mode="r")


def solve_right_upper(a: np.ndarray, r: np.ndarray, inverse: np.ndarray | None = None) -> np.ndarray:
    """``a r^-1`` for a tall ``(m, n)`` ``a`` and a well-conditioned upper-triangular ``(n, n)`` ``r``:
    one BLAS-3 product with the small inverse, without importing scipy.linalg (4x faster than a
    column-by-column substitution on a 697k x 9 block). Its error, about ``cond(r) eps`` relative,
    is a triangular solve's; :func:`r_factor` calls it only for ``cond(r) <= 1e6``, and its second
    Cholesky pass restores the orthogonality either way. ``inverse``: ``r^-1`` if the caller has it
    (chunks of one block). ``(m, n)``."""
    return a @ (np.linalg.inv(r) if inverse is None else inverse)


class StreamedLeastSquares:
    """:func:`lstsq` of ``design @ x ~= target`` given in blocks of rows, holding only a small R factor.

    Each block is reduced to the R factor of its ``[design | target]`` (tall-skinny QR,
    :func:`r_factor`; in a pool thread if the caller likes, :meth:`merge` takes it) and stacked under
    the running one, which is re-factorised: ``[design | target] = Q [[R11, R12], [0, R22]]``, so the
    least-squares problem is ``R11 x ~= R12`` with the same singular values, the same rank decision
    (numpy's ``rcond`` for the whole design's row count) and the same minimum-norm solution, to
    float64 rounding (TSQR; tested against :func:`lstsq` on the whole design). ``ndesign``: the
    design's column count ``D`` (taken from :meth:`add`'s ``design`` if not given).
    """

    def __init__(self, ndesign: int | None = None):
        self.r = None
        self.rows = 0
        self.nd = ndesign

    def add(self, design: np.ndarray, target: np.ndarray) -> None:
        """``design`` ``(n_b, D)``, ``target`` ``(n_b, T)`` rows of the system (copied once, into the
        layout of :meth:`add_system`)."""
        self.nd = design.shape[1]
        system = np.empty((design.shape[1] + target.shape[1], design.shape[0]))
        system[: self.nd], system[self.nd :] = design.T, target.T  # contiguous copies from transposed C arrays
        self.add_system(system)

    def add_system(self, system: np.ndarray) -> None:
        """Rows of the system given transposed, ``[design | target]^T`` ``(D + T, n_b)`` (a C array,
        which :func:`r_factor` reads in place; ``D`` is ``ndesign``): for a caller that builds the
        columns itself (an intensity regression's ``[MS | 1 | PAN_LR]``) without a second copy."""
        self.merge(r_factor(system.T), system.shape[1])

    def merge(self, r: np.ndarray, rows: int) -> None:
        """Add ``rows`` rows of the system given by ``r = r_factor([design | target])`` ``(<= D + T, D + T)``."""
        self.r = r if self.r is None else r_factor(np.concatenate([self.r, r]))
        self.rows += rows

    def reduced(self) -> tuple[np.ndarray, np.ndarray]:
        """``(R11 (D, D), R12 (D, T))``: ``||design x - target||^2 = ||R11 x - R12||^2 + const`` for any ``x``."""
        r = np.zeros((self.r.shape[1], self.r.shape[1]))
        r[: self.r.shape[0]] = self.r  # fewer rows than columns so far: the missing rows are zero
        return r[: self.nd, : self.nd], r[: self.nd, self.nd :]

    def solve(self, what: str) -> np.ndarray:
        """The coefficients ``(D, T)``, as :func:`lstsq` (minimum norm and a warning if rank deficient)."""
        r11, r12 = self.reduced()
        return lstsq(r11, r12, what, rcond=np.finfo(np.float64).eps * max(self.rows, self.nd))


def upsampled_with_detail(x: Inputs, combined: np.ndarray, gain: np.ndarray, image: np.ndarray,
                          shift: np.ndarray | None = None) -> np.ndarray:
    """``upsample(combined)_k + gain_k image + shift_k``, ``(C, H, W)`` float64.

    The injection of a method whose ``MS~`` terms were combined on the MS grid first: ``upsample`` is
    linear, so ``MS~_k - g_k Z~_k = upsample(MS_k - g_k Z_k)`` for any MS-grid ``Z`` upsampled the
    same way (only when ``x.lms_is_upsampled_ms``). One upsampling per band, then two
    full-resolution passes per band (MTF-GLP's additive injection, GS/GSA's component substitution).
    """
    out = np.asarray(upsample(combined, x.ratio), dtype=np.float64)
    for k in range(out.shape[0]):
        detail = gain[k] * image
        if shift is not None:
            detail += shift[k]
        out[k] += detail
    return out


def require_pan_detail(pan: np.ndarray, method: str) -> None:
    """Raise :class:`ValueRangeError` for a constant (e.g. all-zero) PAN: there is no detail to inject."""
    if float(pan.max()) == float(pan.min()):
        raise ValueRangeError(
            f"{method}: the PAN is constant (every pixel {float(pan.flat[0]):g}), so it carries no spatial "
            "detail and its statistics are undefined; check the PAN file/band, or use method 'exp'"
        )


def require_ms_variation(lms: np.ndarray, method: str, *, std=None, mean=None) -> None:
    """Raise :class:`ValueRangeError` if every band is constant (up to interp23tap's 1e-9 ripple).
    ``std``/``mean`` (per band) may be given instead of computing them from ``lms``."""
    std = band_std(lms) if std is None else std
    mean = band_mean(lms) if mean is None else mean
    flat = std <= 1e-8 * (np.abs(mean) + 1.0)
    if np.all(flat):
        raise ValueRangeError(
            f"{method}: every MS band is constant, so the intensity has no variance and injection gains "
            "are undefined; check the MS file, or use method 'exp'"
        )


def equalize(x: np.ndarray, mean_x: float, std_x: float, mean_to, std_to):
    """Affine histogram matching ``(x - mean_x) * std_to / std_x + mean_to`` (std_x > 0)."""
    return (x - mean_x) * (std_to / std_x) + mean_to


# ----------------------------------------------------------------------------------------------
# Method object
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassicalMethod:
    """A classical pansharpening method with separate ``estimate`` and ``apply`` stages.

    Attributes:
        name: registry / CLI name (``"gsa"``).
        title: the name in the literature (``"GSA"``).
        summary: one line for ``pansharpen methods``.
        reference: the paper that defines it.
        halo_fn: ``ratio -> PAN pixels`` of context a tile needs on each side so that ``apply``
            on the tile equals ``apply`` on the whole scene in the tile's interior (see
            :meth:`halo_for`; ``halo`` is the value for ratio 4).
        global_stats: whether ``estimate`` computes scene-wide statistics that need PAN detail
            (:func:`require_pan_detail`).
        reads_scene: whether ``params`` depend on the scene at all (False: they only carry the
            sensor and ratio, so a caller may estimate them on a one-pixel pair instead of reading
            the scene, as :func:`pansharpen.fusion.scene.fuse_scene` does).
        uses_offset: whether ``apply`` depends on the tile position (block-wise methods).
        imports: the modules ``estimate`` and ``apply`` import when they run (scipy's, loaded lazily
            for start-up): a scene fusion loads them in a background thread while it reads its
            inputs (:func:`pansharpen.runtime.preload`); ``tests/test_startup.py`` checks the list.
    """

    name: str
    title: str
    summary: str
    reference: str
    estimate_fn: Callable[..., Params]
    apply_fn: Callable[..., np.ndarray]
    halo_fn: Callable[[int], int] | None = None
    global_stats: bool = True
    reads_scene: bool = True
    uses_offset: bool = False
    options: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()

    def halo_for(self, ratio: int) -> int:
        """Halo in PAN pixels (a multiple of ``ratio``) for tiled application at ``ratio``."""
        r = check_ratio(ratio)
        raw = (self.halo_fn or interp_halo)(r)
        return -(-raw // r) * r

    @property
    def halo(self) -> int:
        return self.halo_for(4)

    def _check_options(self, options: dict) -> None:
        unknown = set(options) - set(self.options)
        if unknown:
            allowed = ", ".join(self.options) or "none"
            raise TypeError(f"{self.name}: unknown option(s) {sorted(unknown)}; allowed: {allowed}")

    def estimate(self, ms, pan, sensor=None, ratio: int = 4, *, lms=None, **options) -> Params:
        """Scene-wide parameters from the LR MS ``(C, h, w)`` and the PAN ``(H, W)``/``(1, H, W)``.

        ``lms`` optionally gives the MS already upsampled to the PAN grid (``(C, H, W)``).
        """
        self._check_options(options)
        r = check_ratio(ratio)
        ms_l, pan_l, batched = split_batch(ms, pan)
        if batched:
            raise ShapeError("estimate takes one image (C, h, w); call it per image of a batch")
        ms0, pan0 = ms_l[0], pan_l[0]
        if lms is None:
            ms0, pan0 = _common_footprint(ms0, pan0, r)
        x = make_inputs(ms0, pan0, sensor, r, lms)
        return self._estimate(x, options)

    def _estimate(self, x: Inputs, options: dict) -> Params:
        if self.global_stats:
            require_pan_detail(x.pan, self.name)
        params = self.estimate_fn(x, **options)
        params.update(method=self.name, ratio=x.ratio, sensor=x.sensor)
        return params

    def apply(self, ms, pan, params: Params, sensor=None, ratio=None, *, lms=None, offset: tuple[int, int] = (0, 0)):
        """Fuse ``ms`` (LR tile, ``(C, h, w)``) and ``pan`` (``(H, W)``) with scene ``params``.

        ``sensor`` and ``ratio`` are taken from ``params`` (if given they must agree).
        ``offset`` is the (row, column) of the tile's top-left PAN pixel in the scene; only
        block-wise methods (BDSD) use it. Returns ``(C, H, W)`` of the input's kind.
        """
        if not isinstance(params, dict) or params.get("method") != self.name:
            got = params.get("method") if isinstance(params, dict) else type(params).__name__
            raise ValueError(f"params were estimated by {got!r}, not {self.name!r}; call {self.name}.estimate first")
        if ratio is not None and check_ratio(ratio) != params["ratio"]:
            raise ShapeError(f"ratio {ratio} differs from the ratio {params['ratio']} the params were estimated with")
        ms_l, pan_l, batched = split_batch(ms, pan)
        if batched:
            raise ShapeError("apply takes one image (C, h, w); call it per image of a batch")
        x = make_inputs(ms_l[0], pan_l[0], params["sensor"], params["ratio"], lms)
        fused = self.apply_fn(x, params, offset=tuple(int(o) for o in offset))
        return restore(fused, ms)

    def __call__(self, ms, pan, sensor=None, ratio: int = 4, *, lms=None, **options):
        """Fuse: ``ms`` LR MS ``(C, h, w)`` or ``(N, C, h, w)`` in DN, ``pan`` ``(H, W)``,
        ``(1, H, W)`` or ``(N, 1, H, W)``; returns ``(C, H, W)`` (or ``(N, C, H, W)``), same kind."""
        self._check_options(options)
        r = check_ratio(ratio)
        ms_l, pan_l, batched = split_batch(ms, pan)
        outs = []
        for i, (m, p) in enumerate(zip(ms_l, pan_l)):
            lms_i = None
            if lms is not None:
                lms_i = lms[i] if batched else lms
            x = make_inputs(m, p, sensor, r, lms_i)
            params = self._estimate(x, options)
            outs.append(self.apply_fn(x, params, offset=(0, 0)))
        fused = np.stack(outs) if batched else outs[0]
        return restore(fused, ms)

    def describe(self) -> str:
        return f"{self.title}: {self.summary}"
