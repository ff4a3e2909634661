"""Component-substitution (CS) pansharpening: GS, GSA, C-GSA, BT-H, BDSD, BDSD-PC, PRACS, Brovey.

General CS model (Vivone et al., IEEE TGRS 53(5), 2015, Eq. 3-4)::

    F_k = MS~_k + g_k (P - I_L),      I_L = sum_i w_i MS~_i + b

where ``MS~`` is the MS upsampled with interp23tap (EXP), ``I_L`` the intensity component,
``g_k`` the injection gains and ``P`` the PAN histogram-matched to ``I_L``
(``P' = (P - mu_P) std(I_L) / std(P) + mu_I``). Shapes: ``ms`` ``(C, h, w)`` digital numbers,
``pan`` ``(H, W)``, ``H = ratio * h``; outputs ``(C, H, W)`` float64.
"""
from __future__ import annotations

import numpy as np

from .._arrays import copy_in_column_chunks
from ..errors import ShapeError, ValueRangeError
from ..protocol.mtf import mtf_filter
from ..protocol.resize import LAZY_IMPORTS as RESIZE_IMPORTS
from ..protocol.resize import imresize, imresize_input_rows, imresize_rows
from ..runtime import map_in_order
from ._common import (
    ClassicalMethod,
    Inputs,
    Moments,
    StreamedLeastSquares,
    equalize,
    lstsq,
    map_strips,
    r_factor,
    require_ms_variation,
    safe_denominator,
    safe_divide,
    upsampled_with_detail,
)
from ._lowpass import (
    decimate_phase,
    haze_cap,
    mtf_decimate,
    upsample_interp23tap,
)
from ._upsampled_moments import UpsampledMoments
from .segmentation import assign_clusters, kmeans

# ----------------------------------------------------------------------------------------------
# Intensity by regression (GSA, BT-H, HPM-H)
# ----------------------------------------------------------------------------------------------


def reduced_pan(x: Inputs) -> np.ndarray:
    """PAN reduced to the MS grid: MATLAB ``imresize(P, 1/ratio)`` (bicubic, antialiased), ``(h, w)``."""
    if "pan_lr" not in x.cache:
        x.cache["pan_lr"] = np.asarray(imresize(x.pan[None], 1.0 / x.ratio), dtype=np.float64)[0]
    return x.cache["pan_lr"]


def intensity_regression(x: Inputs, what: str = "intensity regression") -> tuple[np.ndarray, float]:
    """Weights ``w`` (C,) and bias ``b`` of ``P_LR ~ sum_k w_k MS_k + b`` on the MS grid.

    Aiazzi, Baronti, Selva, 'Improving component substitution pansharpening through multivariate
    regression of MS+Pan data', IEEE TGRS 45(10), 2007, Eq. 8: least squares between the PAN
    degraded to the MS scale and the original MS bands.
    """
    if "intensity_regression" not in x.cache:
        x.cache["intensity_regression"] = fit_intensity(x.ms.reshape(x.nbands, -1), reduced_pan(x).ravel(), what)
    return x.cache["intensity_regression"]


def fit_intensity(ms_pixels: np.ndarray, pan_lr_pixels: np.ndarray, what: str) -> tuple[np.ndarray, float]:
    """``(w (C,), b)`` of the least-squares fit ``pan_lr ~ sum_k w_k ms_k + b`` over pixels
    (``ms_pixels (C, n)``, ``pan_lr_pixels (n,)``): :func:`intensity_regression` on any set of pixels.

    Solved on one R factor of ``[design | pan_lr]`` (:class:`~pansharpen.classical._common.StreamedLeastSquares`
    in one block, CholeskyQR2's two Gram products: 0.13 -> 0.054 s against the SVD of the tall design
    on a WV3 scene's 697k x 9), with the same rank decision and minimum-norm solution as :func:`lstsq` of the tall
    system, to float64 rounding."""
    c, n = ms_pixels.shape
    system = np.empty((c + 2, n))  # [design | target]^T, design = [MS | 1], built once
    system[:c] = ms_pixels
    system[c] = 1.0
    system[c + 1] = pan_lr_pixels
    fit = StreamedLeastSquares(ndesign=c + 1)
    fit.add_system(system)
    coef = fit.solve(what)[:, 0]
    return coef[:-1].copy(), float(coef[-1])


def _intensity(lms: np.ndarray, weights: np.ndarray, bias: float) -> np.ndarray:
    return np.tensordot(weights, lms, axes=1) + bias


def _cs_params(x: Inputs, weights: np.ndarray, bias: float, sample_step: int | None = None,
               minimum: bool = False) -> dict:
    """Intensity, PAN equalisation moments and GS gains ``g_k = cov(MS~_k, I) / var(I)``.

    The moments of ``MS~`` and of ``I = w . MS~ + b`` are those of upsampled MS-grid images
    (``w . MS~ = up(w . MS)``), computed from their low-resolution spectra
    (:class:`~pansharpen.classical._upsampled_moments.UpsampledMoments`: no upsampling, equal to the
    streamed moments to about 1e-13 relative); ``minimum`` adds ``params["intensity_min"]`` (BT-H's
    haze cap), the minimum of ``up(w . MS) + b`` upsampled in strips. With ``sample_step`` or a
    caller's own ``MS~``, one streamed pass over strips of ``MS~`` instead (:func:`~pansharpen.classical._common.map_strips`,
    strips in pool threads: C-GSA's prepare 2.6 -> 2.1 s on the full WV3 scene), so the full-resolution ``MS~`` and
    intensity are never held (the full WV3 scene needed 2.2 GB); its moments equal the whole-array
    ones to float64 rounding (tested). With ``sample_step``, ``params["sample"]``: every
    ``sample_step``-th pixel of ``MS~`` in raster order, ``(C, N)`` (the same pixels as
    ``MS~.reshape(C, -1)[:, ::sample_step]``; C-GSA's k-means sample).
    """
    n, width = x.nbands, x.pan.shape[1]
    intensity_min = np.inf
    samples = []
    if not sample_step and x.lms_is_upsampled_ms:
        intensity_lr = np.tensordot(np.asarray(weights, dtype=np.float64), x.ms, axes=1)
        moments = UpsampledMoments(np.concatenate([x.ms, intensity_lr[None]]), x.ratio, pairs=[(k, n) for k in range(n)])
        moments.mean[n] += bias  # the bias is added to the upsampled intensity as it is (up(1) is not exactly 1)
        if minimum:  # one band upsampled in strips, not the C bands of MS~
            intensity_min = bias + min(map_strips(x, lambda r0, r1, strip: float(strip.min()), others=(intensity_lr[None],),
                                                  lms=False, threaded=True))
    else:
        moments = Moments(n + 1, pairs=[(k, n) for k in range(n)])  # bands 0..n-1, intensity n

        def summarize(r0, r1, strip):  # a strip's summary (map_strips)
            flat = strip.reshape(n, -1)
            # (a copy of the strip's samples: a view would keep the whole strip alive)
            sample = flat[:, (-r0 * width) % sample_step :: sample_step].copy() if sample_step else None
            intensity = np.tensordot(weights, flat, axes=1) + bias
            summary = moments.summarize(np.concatenate([flat, intensity[None]], axis=0), overwrite=True)
            return float(intensity.min()), summary, sample

        for low, summary, sample in map_strips(x, summarize, threaded=True):
            intensity_min = min(intensity_min, low)
            moments.merge(summary)
            samples.append(sample)
    band_var = moments.var(ddof=1)
    require_ms_variation(None, "component substitution", std=np.sqrt(band_var[:n]), mean=moments.mean[:n])
    var_i = float(band_var[n])
    if var_i == 0:
        raise ValueRangeError(
            "the intensity component is constant (its regression weights cancel the MS variation); "
            "check the inputs or use an MRA method such as 'mtf-glp'"
        )
    gains = moments.cov(ddof=1) / var_i
    params = {
        "weights": np.asarray(weights, dtype=np.float64),
        "bias": float(bias),
        "gain": gains,
        "pan_mean": float(x.pan.mean()),
        "pan_std": float(x.pan.std(ddof=1)),
        "intensity_mean": float(moments.mean[n]),
        "intensity_std": float(np.sqrt(var_i)),
    }
    if minimum or sample_step:
        params["intensity_min"] = intensity_min
    if sample_step:
        params["sample"] = np.concatenate(samples, axis=1)
    return params


def _equalized_pan(pan: np.ndarray, params: dict) -> np.ndarray:
    return equalize(pan, params["pan_mean"], params["pan_std"], params["intensity_mean"], params["intensity_std"])


def _cs_apply(x: Inputs, params: dict, offset=(0, 0)) -> np.ndarray:
    """``F_k = MS~_k + g_k (P_eq - I)``, ``I = w . MS~ + b`` (GS, GSA).

    With ``MS~ = upsample(MS)`` (linear), ``MS~_k - g_k w . MS~ = upsample(MS_k - g_k w . MS)``: the
    MS-grid combination is upsampled once per band and ``g_k (P_eq - b)`` added, without the
    full-resolution intensity and detail images; equal to the sum as written (kept for a caller's own
    ``MS~``) to float64 rounding (tested)."""
    weights, bias, gain = params["weights"], params["bias"], params["gain"]
    if not x.lms_is_upsampled_ms:
        intensity = _intensity(x.lms, weights, bias)
        detail = _equalized_pan(x.pan, params) - intensity
        return x.lms + gain[:, None, None] * detail[None]
    combined = x.ms - gain[:, None, None] * np.tensordot(weights, x.ms, axes=1)[None]
    pan = _equalized_pan(x.pan, params)
    pan -= bias
    return upsampled_with_detail(x, combined, gain, pan)


# ----------------------------------------------------------------------------------------------
# GS and GSA
# ----------------------------------------------------------------------------------------------


def _gs_estimate(x: Inputs) -> dict:
    n = x.nbands
    return _cs_params(x, np.full(n, 1.0 / n), 0.0)


GS = ClassicalMethod(
    "gs",
    "GS",
    "Gram-Schmidt spectral sharpening, mode 1: intensity = mean of the MS bands",
    "Laben, Brower, 'Process for enhancing the spatial resolution of multispectral imagery using "
    "pan-sharpening', US Patent 6,011,875, 2000 (as formulated in Vivone et al., IEEE TGRS 2015)",
    _gs_estimate,
    _cs_apply,
)


def _gsa_estimate(x: Inputs) -> dict:
    weights, bias = intensity_regression(x, "GSA intensity regression")
    return _cs_params(x, weights, bias)


GSA = ClassicalMethod(
    "gsa",
    "GSA",
    "adaptive Gram-Schmidt: intensity weights regressed from the MS onto the reduced PAN",
    "Aiazzi, Baronti, Selva, 'Improving component substitution pansharpening through multivariate "
    "regression of MS+Pan data', IEEE TGRS 45(10), 2007",
    _gsa_estimate,
    _cs_apply,
    imports=RESIZE_IMPORTS,
)


# ----------------------------------------------------------------------------------------------
# C-GSA: GSA with gains and equalisation per k-means segment
# ----------------------------------------------------------------------------------------------


def _segment_labels(x: Inputs, centres: np.ndarray) -> np.ndarray:
    """Nearest-centre label of every ``MS~`` pixel, ``(H, W)`` (cached for the plain call)."""
    key = ("segments", id(centres))
    if key not in x.cache:
        x.cache[key] = assign_clusters(x.lms.reshape(x.nbands, -1), centres, channels_first=True).reshape(x.pan.shape)
    return x.cache[key]


def _cgsa_estimate(x: Inputs, clusters: int = 5, seed: int = 0) -> dict:
    """GSA's statistics, k-means centres of ``MS~`` and per-segment GSA statistics, in streamed passes.

    Pass 1 (GSA's, :func:`_cs_params`); pass 2 gathers every ``step``-th pixel of ``MS~`` in raster
    order (the k-means sample, the same pixels as ``MS~.reshape(C, -1)[:, ::step]``); pass 3 labels
    each strip's pixels by their nearest centre (pixel-wise, exact) and sums per segment (the sums of
    strips add up to the whole-image sums to float64 rounding, tested).
    """
    weights, bias = intensity_regression(x, "C-GSA intensity regression")
    n = x.nbands
    params = _cs_params(x, weights, bias, sample_step=max(1, x.pan.size // 20_000))  # passes 1 and 2 in one
    sample = params.pop("sample")
    centres = kmeans(np.ascontiguousarray(sample.T), clusters, seed=seed)
    k = len(centres)

    def segment_sums(r0, r1, strip):  # one strip's per-segment sums (in a pool thread: map_strips)
        flat = strip.reshape(n, -1)
        labels = assign_clusters(flat, centres, channels_first=True)
        intensity = np.tensordot(weights, flat, axes=1) + bias
        pan = x.pan[r0:r1].ravel()
        sums = {name: np.bincount(labels, weights=values, minlength=k)
                for name, values in (("i", intensity), ("p", pan), ("ii", intensity * intensity), ("pp", pan * pan))}
        sums["count"] = np.bincount(labels, minlength=k)
        sums["band"] = np.stack([np.bincount(labels, weights=flat[b], minlength=k) for b in range(n)])
        sums["band_i"] = np.stack([np.bincount(labels, weights=flat[b] * intensity, minlength=k) for b in range(n)])
        return sums

    count = np.zeros(k)
    sums = {name: np.zeros(k) for name in ("i", "p", "ii", "pp")}
    band_sum, band_i = np.zeros((n, k)), np.zeros((n, k))
    for part in map_strips(x, segment_sums, threaded=True):  # added in strip order: the bits of one thread
        count += part["count"]
        for name in sums:
            sums[name] += part[name]
        band_sum += part["band"]
        band_i += part["band_i"]
    n_seg, dof = count, np.maximum(count - 1, 1)
    mean_i, mean_p = sums["i"] / np.maximum(n_seg, 1), sums["p"] / np.maximum(n_seg, 1)
    var_i = (sums["ii"] - n_seg * mean_i**2) / dof
    var_p = (sums["pp"] - n_seg * mean_p**2) / dof
    cov = np.stack([(band_i[b] - n_seg * mean_i * band_sum[b] / np.maximum(n_seg, 1)) / dof for b in range(n)], axis=1)
    # a segment with < 2 pixels or no variance carries no detail statistics: scene-wide fallback
    usable = (n_seg >= 2) & (var_i > 1e-12 * (mean_i**2 + 1)) & (var_p > 1e-12 * (mean_p**2 + 1))
    seg_gain = np.where(usable[:, None], cov / np.where(usable, var_i, 1.0)[:, None], params["gain"][None])
    params.update(
        centres=centres,
        segment_gain=seg_gain,
        segment_pan_mean=np.where(usable, mean_p, params["pan_mean"]),
        segment_pan_std=np.where(usable, np.sqrt(np.maximum(var_p, 0)), params["pan_std"]),
        segment_intensity_mean=np.where(usable, mean_i, params["intensity_mean"]),
        segment_intensity_std=np.where(usable, np.sqrt(np.maximum(var_i, 0)), params["intensity_std"]),
    )
    return params


def _cgsa_apply(x: Inputs, params: dict, offset=(0, 0)) -> np.ndarray:
    labels = _segment_labels(x, params["centres"])
    # equalize() per pixel, (P - mu_P) (s_I / s_P) + mu_I with its segment's moments, in place; the
    # per-segment ratio gathered is the ratio of the gathered values: the same bits, 3 gathers not 4
    detail = np.subtract(x.pan, params["segment_pan_mean"][labels])
    detail *= (params["segment_intensity_std"] / params["segment_pan_std"])[labels]
    detail += params["segment_intensity_mean"][labels]
    detail -= _intensity(x.lms, params["weights"], params["bias"])
    out = x.lms.copy()
    for b in range(x.nbands):
        injection = params["segment_gain"][:, b][labels]
        injection *= detail
        out[b] += injection
    return out


C_GSA = ClassicalMethod(
    "c-gsa",
    "C-GSA",
    "context-adaptive GSA: injection gains and PAN equalisation per k-means segment (5 clusters)",
    "Restaino, Dalla Mura, Vivone, Chanussot, 'Context-adaptive pansharpening based on image "
    "segmentation', IEEE TGRS 55(2), 2017",
    _cgsa_estimate,
    _cgsa_apply,
    options=("clusters", "seed"),
    imports=RESIZE_IMPORTS,
)


# ----------------------------------------------------------------------------------------------
# BT-H: Brovey with haze correction
# ----------------------------------------------------------------------------------------------


def _bth_estimate(x: Inputs) -> dict:
    weights, bias = intensity_regression(x, "BT-H intensity regression")
    params = _cs_params(x, weights, bias, minimum=True)
    haze = x.ms.reshape(x.nbands, -1).min(axis=1)
    params["haze"] = haze
    # the intensity of the band hazes, capped below the darkest intensity value so that the
    # haze-free intensity (the Brovey denominator) stays positive (see haze_cap)
    cap = haze_cap(params["intensity_min"], params["intensity_mean"])
    params["intensity_haze"] = min(float(bias + weights @ haze), cap)
    return params


def _bth_apply(x: Inputs, params: dict, offset=(0, 0)) -> np.ndarray:
    intensity = _intensity(x.lms, params["weights"], params["bias"])
    h_i = params["intensity_haze"]
    modulation = safe_divide(_equalized_pan(x.pan, params) - h_i, intensity - h_i)
    haze = params["haze"][:, None, None]
    out = np.subtract(x.lms, haze)  # H_k + (MS~_k - H_k) m, in place in that order: the same bits, one array
    out *= modulation[None]
    out += haze
    return out


BT_H = ClassicalMethod(
    "bt-h",
    "BT-H",
    "Brovey transform with regression intensity and haze (path radiance) correction",
    "Lolli, Alparone, Garzelli, Vivone, 'Haze correction for contrast-based multispectral "
    "pansharpening', IEEE GRSL 14(12), 2017",
    _bth_estimate,
    _bth_apply,
    imports=RESIZE_IMPORTS,
)


# ----------------------------------------------------------------------------------------------
# BDSD and BDSD-PC
# ----------------------------------------------------------------------------------------------


def bdsd_reduced_scale(x: Inputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reduced-scale triple of BDSD: ``(MS (C, h', w'), MS_LR~ (C, h', w'), P_LR (h', w'))``.

    ``MS_LR~`` is the LR MS degraded as the MS was (its MTF, decimation by ``ratio``) and
    interpolated back with interp23tap: at the MS scale it plays the role of ``MS~``;
    ``P_LR`` is the PAN filtered with the PAN MTF and decimated (Garzelli et al. 2008, Sec. III).
    An MS whose size is not a multiple of ``ratio`` is cropped (bottom/right) to one for this
    fit: ``h' = h - h % ratio`` (the fit needs one more exact decimation).
    """
    if "bdsd_lr" not in x.cache:
        h, w = x.ms.shape[1:]
        h2, w2 = h - h % x.ratio, w - w % x.ratio
        if h2 < x.ratio or w2 < x.ratio:
            raise ShapeError(f"BDSD needs an MS of at least {x.ratio}x{x.ratio} pixels to degrade it once more; got {h}x{w}")

        ms = x.ms[:, :h2, :w2]
        off = decimate_phase(x.ratio)
        # one band at a time (bitwise the same as the whole stack; the 8-band FFT buffers took 400 MB),
        # in the caller's threads (runtime.map_in_order: at most two bands' buffers at once)
        def band(k: int) -> np.ndarray:
            lowpass = mtf_filter(ms[k : k + 1], float(x.sensor.ms_gnyq[k]), x.ratio)
            return np.asarray(lowpass, dtype=np.float64)[0, off :: x.ratio, off :: x.ratio]

        ms_lp = np.stack(list(map_in_order(range(x.nbands), band)))
        ms_lr_lp = upsample_interp23tap(ms_lp, x.ratio)
        pan_lr = mtf_decimate(x.pan[: x.ratio * h2, : x.ratio * w2], (float(x.sensor.pan_gnyq),), x.ratio)[0]
        x.cache["bdsd_lr"] = (ms, ms_lr_lp, pan_lr)
    return x.cache["bdsd_lr"]


def bdsd_block_coefficients(features: np.ndarray, target: np.ndarray, block: int) -> np.ndarray:
    """Per-block least squares ``target ~ features @ gamma`` on non-overlapping ``block x block`` blocks.

    Args:
        features: ``(F, h, w)`` regressors (BDSD: the ``C`` degraded-and-interpolated bands and the
            reduced PAN, ``F = C + 1``).
        target: ``(C, h, w)`` responses (BDSD: ``MS_LR - MS_LR~``).
        block: block side on this grid; the last row/column of blocks may be smaller.

    Returns:
        ``gamma`` of shape ``(ceil(h/block), ceil(w/block), F, C)`` (Garzelli et al. 2008, Eq. 14).
        Rank-deficient blocks get the minimum-norm solution and a warning. Rows of blocks are
        solved in the caller's threads (:func:`~pansharpen.runtime.map_in_order`; each block the same).
    """
    nf, h, w = features.shape
    nb_r, nb_c = -(-h // block), -(-w // block)
    gamma = np.zeros((nb_r, nb_c, nf, target.shape[0]))

    def block_row(i: int) -> None:  # writes gamma[i] only
        for j in range(nb_c):
            rs, cs = slice(i * block, (i + 1) * block), slice(j * block, (j + 1) * block)
            design = features[:, rs, cs].reshape(nf, -1).T
            resp = target[:, rs, cs].reshape(target.shape[0], -1).T
            gamma[i, j] = lstsq(design, resp, f"BDSD block ({i}, {j})")

    for _ in map_in_order(range(nb_r), block_row):
        pass
    return gamma


def _bdsd_estimate(x: Inputs, block: int = 128) -> dict:
    if int(block) != block or block < x.ratio or block % x.ratio:
        raise ShapeError(f"BDSD block size must be a positive multiple of the ratio {x.ratio}; got {block!r}")
    block = int(block)
    ms, ms_lr_lp, pan_lr = bdsd_reduced_scale(x)
    features = np.concatenate([ms_lr_lp, pan_lr[None]], axis=0)
    gamma = bdsd_block_coefficients(features, ms - ms_lr_lp, block // x.ratio)
    return {"gamma": gamma, "block": block}


def bdsd_apply_coefficients(lms: np.ndarray, pan: np.ndarray, gamma: np.ndarray, block: int, offset=(0, 0)) -> np.ndarray:
    """``F_k = MS~_k + [MS~, P] gamma_k`` with each pixel using its scene block's ``gamma``.

    ``lms`` ``(C, H, W)``, ``pan`` ``(H, W)``, ``gamma`` ``(blocks down, blocks across, C + 1, C)``.
    ``offset`` is the scene position (PAN pixels) of the arrays' top-left pixel; blocks outside
    the estimated grid (tiles past the scene) reuse the nearest block. Each block's features
    ``[MS~, P]`` are gathered into one reused contiguous buffer for the product (the block's pixels
    are strided in ``lms``): 0.7x the time of a concatenated feature image and a copy per block, with
    the same products and sums, so bitwise the same output.
    """
    c, hh, ww = lms.shape
    rows = np.clip((np.arange(hh) + offset[0]) // block, 0, gamma.shape[0] - 1)
    cols = np.clip((np.arange(ww) + offset[1]) // block, 0, gamma.shape[1] - 1)
    out = np.empty_like(lms, dtype=np.float64)
    row_runs, col_runs = _runs(rows), _runs(cols)
    buffer = np.empty((c + 1) * max(r1 - r0 for _, r0, r1 in row_runs) * max(c1 - c0 for _, c0, c1 in col_runs))
    for bi, r0, r1 in row_runs:
        for bj, c0, c1 in col_runs:
            h, w = r1 - r0, c1 - c0
            feat = buffer[: (c + 1) * h * w].reshape(c + 1, h, w)
            feat[:c] = lms[:, r0:r1, c0:c1]
            feat[c] = pan[r0:r1, c0:c1]
            detail = np.dot(gamma[bi, bj].T, feat.reshape(c + 1, h * w)).reshape(c, h, w)
            np.add(feat[:c], detail, out=out[:, r0:r1, c0:c1])  # MS~ + detail, written in place
    return out


def _runs(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """``(label, start, stop)`` of each run of equal values in the sorted 1-D ``labels``."""
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    stops = np.r_[starts[1:], labels.size]
    return [(int(labels[a]), int(a), int(b)) for a, b in zip(starts, stops)]


def _bdsd_apply(x: Inputs, params: dict, offset=(0, 0)) -> np.ndarray:
    return bdsd_apply_coefficients(x.lms, x.pan, params["gamma"], params["block"], offset)


BDSD = ClassicalMethod(
    "bdsd",
    "BDSD",
    "band-dependent spatial detail: per-block MMSE injection fitted at reduced scale (128 px blocks)",
    "Garzelli, Nencini, Capobianco, 'Optimal MMSE pan sharpening of very high resolution "
    "multispectral images', IEEE TGRS 46(1), 2008",
    _bdsd_estimate,
    _bdsd_apply,
    uses_offset=True,
    options=("block",),
)


def nonnegative_least_squares(design: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``argmin ||design x - t||`` s.t. ``x >= 0`` for ``targets`` ``(n,)`` (-> ``(D,)``) or for each
    column of ``(n, T)`` (-> ``(D, T)``).

    One R factor of ``[design | targets]`` (:class:`~pansharpen.classical._common.StreamedLeastSquares`
    in one block, CholeskyQR2 at BLAS-3 speed): ``||design x - t||^2 = ||R11 x - R12_t||^2 + const``,
    so the active-set solver (:func:`lawson_hanson`) runs on the small ``(D, D)`` system; the same
    solution as NNLS on the tall one (the objective is the same function of ``x``, to float64 rounding).
    """
    one = targets.ndim == 1
    fit = StreamedLeastSquares()
    fit.add(design, targets.reshape(len(targets), -1))
    r11, r12 = fit.reduced()
    coef = np.stack([lawson_hanson(r11, r12[:, t]) for t in range(r12.shape[1])], axis=1)
    return coef[:, 0] if one else coef


def lawson_hanson(a: np.ndarray, b: np.ndarray, max_iter: int | None = None) -> np.ndarray:
    """Non-negative least squares ``argmin ||a x - b||, x >= 0`` of a small dense ``(m, n)`` system by
    the active-set method of Lawson and Hanson ('Solving Least Squares Problems', 1974, ch. 23),
    the algorithm of ``scipy.optimize.nnls`` without its 0.4 s import: variables enter the passive
    set by the largest gradient ``w = a^T (b - a x)``, the unconstrained least squares on the passive
    set is taken when it is positive, else the step is cut at the first variable that reaches zero,
    which leaves. Returns ``(n,)``; raises RuntimeError after ``max_iter`` (default ``50 n``) inner steps.
    """
    m, n = a.shape
    max_iter = 50 * n if max_iter is None else max_iter
    tol = 10 * max(m, n) * np.finfo(np.float64).eps * max(1.0, float(np.abs(a).sum(axis=0).max()))
    x, passive, steps = np.zeros(n), np.zeros(n, dtype=bool), 0
    w = a.T @ b
    while not passive.all() and np.max(np.where(passive, -np.inf, w)) > tol * max(1.0, float(np.abs(b).max())):
        passive[int(np.argmax(np.where(passive, -np.inf, w)))] = True
        while True:
            steps += 1
            if steps > max_iter:
                raise RuntimeError(f"non-negative least squares did not converge in {max_iter} steps")
            s = np.zeros(n)
            s[passive] = np.linalg.lstsq(a[:, passive], b, rcond=None)[0]
            if s[passive].min() > 0:
                x = s
                break
            cut = passive & (s <= 0)
            alpha = float(np.min(x[cut] / (x[cut] - s[cut])))
            x = x + alpha * (s - x)
            leave = passive & (x <= tol)
            x[leave], passive[leave] = 0.0, False
        w = a.T @ (b - a @ x)
    return x


def _bdsd_pc_estimate(x: Inputs) -> dict:
    """Global physically constrained BDSD (Vivone 2019, Eq. 14-16).

    For each band: ``MS_k - MS_LR~_k ~ g_k P_LR - sum_i c_ki MS_LR~_i`` with ``g_k, c_ki >= 0``.
    """
    ms, ms_lr_lp, pan_lr = bdsd_reduced_scale(x)
    design = np.concatenate([pan_lr.reshape(1, -1), -ms_lr_lp.reshape(x.nbands, -1)], axis=0).T
    coef = nonnegative_least_squares(design, (ms - ms_lr_lp).reshape(x.nbands, -1).T)
    return {"coef": coef}  # (C + 1, C): row 0 = PAN gain, rows 1.. = intensity weights


def _bdsd_pc_apply(x: Inputs, params: dict, offset=(0, 0)) -> np.ndarray:
    coef = params["coef"]
    crossed = np.tensordot(coef[1:].T, x.lms, axes=1)
    out = np.multiply(coef[0][:, None, None], x.pan[None])  # MS~ + g P - crossed, in that order: the same bits
    out += x.lms
    out -= crossed
    return out


BDSD_PC = ClassicalMethod(
    "bdsd-pc",
    "BDSD-PC",
    "BDSD with physical (non-negativity) constraints, one global fit by non-negative least squares",
    "Vivone, 'Robust band-dependent spatial-detail approaches for panchromatic sharpening', "
    "IEEE TGRS 57(9), 2019",
    _bdsd_pc_estimate,
    _bdsd_pc_apply,
)


# ----------------------------------------------------------------------------------------------
# PRACS
# ----------------------------------------------------------------------------------------------


def _pracs_matched_ms(lms: np.ndarray, params: dict) -> np.ndarray:
    """MS~ histogram-matched to the PAN and clipped at 0 (Choi et al. 2011, Eq. 5)."""
    matched = equalize(
        lms,
        params["band_mean"][:, None, None],
        params["band_std_safe"][:, None, None],
        params["pan_mean"],
        params["pan_std"],
    )
    return np.maximum(matched, 0.0)


#: MS rows per block of PRACS's streamed estimate: ``MS~`` is upsampled in strips of 32 MS rows
#: (:func:`~pansharpen.classical._common.map_strips`; the interpolator's 20-row margin makes short
#: strips slow) and its derived images (``M~``, the regression rows, the band intensities) are formed
#: in blocks of this many MS rows (a 3340-column WV3 block of [1, M~] and its targets is 31 MB).
PRACS_BLOCK = 16


def down_up_rows(rows_of, height: int, ratio: int, r0: int, r1: int) -> np.ndarray:
    """Rows ``r0:r1`` of ``imresize(imresize(image, 1/ratio), ratio)`` (bicubic) of a ``(C, height, W)``
    image given by ``rows_of(lo, hi) = image[:, lo:hi]``, bitwise equal to the whole-image resizes
    (:func:`~pansharpen.protocol.resize.imresize_rows`, tested)."""
    lr_height = -(-height // ratio)
    l0, l1 = imresize_input_rows(lr_height, float(ratio), r0, r1)
    low = imresize_rows(rows_of, height, 1.0 / ratio, l0, l1)
    return imresize_rows(lambda a, b: low[:, a - l0 : b - l0], lr_height, float(ratio), r0, r1)


def down_up_reach(height: int, ratio: int, r0: int, r1: int) -> tuple[int, int]:
    """Input rows ``lo:hi`` that :func:`down_up_rows` reads for the output rows ``r0:r1``."""
    l0, l1 = imresize_input_rows(-(-height // ratio), float(ratio), r0, r1)
    return imresize_input_rows(height, 1.0 / ratio, l0, l1)


def _blocks(r0: int, r1: int, step: int):
    """``(b0, b1)`` row ranges of at most ``step`` rows covering ``r0:r1``."""
    return [(b, min(r1, b + step)) for b in range(r0, r1, step)]


def _pracs_strip_summaries(x: Inputs, params: dict):
    """One pass over ``M~``: per block of rows, in order, ``(R, rows, moments)``: the R factor
    (:func:`~pansharpen.classical._common.r_factor`) of the rows ``[1, M~ | LP(P), LP(M~)]`` of
    PRACS's regression (LP = bicubic down-up), their count, and the moment summary
    (:meth:`~pansharpen.classical._common.Moments.summarize`) of ``z = [P, M~, MS~]`` ``(2C + 1,)``.

    Each strip of 32 MS rows computes ``MS~`` on its rows plus the down-up's reach, so ``LP`` is
    bitwise the whole-image one (:func:`down_up_rows`), and reduces its blocks in a
    :func:`~pansharpen.runtime.map_in_order` pool thread; the caller merges them in order (the same
    bits whatever the thread count)."""
    n, (height, width), ratio = x.nbands, x.pan.shape, x.ratio
    moments = Moments.every_pair(2 * n + 1)

    def summarize(span):  # in a pool thread: the blocks of one 32-MS-row strip
        r0, r1 = span
        lo, hi = down_up_reach(height, ratio, r0, r1)
        lo, hi = min(lo, r0), max(hi, r1)
        lms = x.lms_rows(lo, hi)
        matched = _pracs_matched_ms(lms, params)
        out = []
        for b0, b1 in _blocks(r0, r1, PRACS_BLOCK * ratio):
            # [1, M~ | LP(P), LP(M~)] transposed (rows.T is the block) and z, written through
            # (bands, rows, columns) views: the strips are not contiguous per band
            rows, z = np.empty((2 * n + 2, b1 - b0, width)), np.empty((2 * n + 1, b1 - b0, width))
            rows[0] = 1.0
            rows[1 : n + 1] = z[1 : n + 1] = matched[:, b0 - lo : b1 - lo]
            # the resizes' outputs are (columns, bands, rows) in memory
            copy_in_column_chunks(rows[n + 1 : n + 2], down_up_rows(lambda a, b: x.pan[None, a:b], height, ratio, b0, b1))
            copy_in_column_chunks(rows[n + 2 :], down_up_rows(lambda a, b: matched[:, a - lo : b - lo], height, ratio, b0, b1))
            z[0], z[n + 1 :] = x.pan[b0:b1], lms[:, b0 - lo : b1 - lo]
            out.append((r_factor(rows.reshape(2 * n + 2, -1).T), (b1 - b0) * width,
                        moments.summarize(z.reshape(2 * n + 1, -1), overwrite=True)))
        return out

    for summaries in map_in_order(_blocks(0, height, 32 * ratio), summarize):
        yield from summaries


def _pracs_estimate(x: Inputs, beta: float = 0.95) -> dict:
    """PRACS's scene statistics (Choi et al. 2011, Eq. 5-12) in one streamed pass over strips of rows.

    The full-resolution ``[1, M~]`` design (9 x 11 M float64 for a WV3 scene) and the down-up
    resized images are never held: the ``MS~`` band moments come from the LR spectra
    (:class:`~pansharpen.classical._upsampled_moments.UpsampledMoments`; a pass over strips for a
    caller's own ``MS~``), then one pass (:func:`_pracs_strip_summaries`) gives the one
    multi-target least squares (:class:`~pansharpen.classical._common.StreamedLeastSquares`) and
    the covariance matrix of ``z = [P, M~, MS~]``. Every later statistic is of images linear in
    ``z`` (the intensity ``I = [1, M~] alpha``, ``P_k^h``, ``I_k = [1, M~] gamma_k``), so its means,
    variances and correlations are those of the covariance matrix: no second pass. Equal to the
    whole-image formulas to 1e-11 relative (the least squares' rounding grows with the design's
    condition number; tested). At ratios that are not powers of two ``MS~`` is upsampled whole
    (the general interpolator).
    """
    n = x.nbands
    if x.lms_is_upsampled_ms:  # the MS~ band moments from the LR spectra
        ms_moments = UpsampledMoments(x.ms, x.ratio)
    else:
        ms_moments = Moments(n)
        for summary in map_strips(x, lambda r0, r1, strip: ms_moments.summarize(strip.reshape(n, -1)), threaded=True):
            ms_moments.merge(summary)
    std_k, mean_k = np.sqrt(ms_moments.var(ddof=1)), ms_moments.mean
    require_ms_variation(None, "PRACS", std=std_k, mean=mean_k)
    params = {
        "band_mean": mean_k,
        "band_std_safe": np.where(std_k > 0, std_k, 1.0),
        "pan_mean": float(x.pan.mean()),
        "pan_std": float(x.pan.std(ddof=1)),
    }
    # every regression of PRACS shares the design [1, M~]; the band targets are linear in
    # (LP(P), LP(M~_k)), so one multi-target least squares gives all coefficients
    fit, moments = StreamedLeastSquares(ndesign=n + 1), Moments.every_pair(2 * n + 1)
    for r, rows, summary in _pracs_strip_summaries(x, params):
        fit.merge(r, rows)
        moments.merge(summary)
    coefs = fit.solve("PRACS intensity regressions")
    alpha = coefs[:, 0]
    cov, mean = moments.cov_matrix(ddof=0), moments.mean
    pan, matched, lms = 0, slice(1, n + 1), slice(n + 1, 2 * n + 1)
    # the intensity I = [1, M~] alpha against M~_k (cc, Eq. 6) and MS~_k (rho, Eq. 12)
    cov_i = alpha[1:] @ cov[matched]
    var_i = max(float(cov_i[matched] @ alpha[1:]), 0.0)
    cc = _correlation_of(cov_i[matched], var_i, np.diag(cov)[matched])
    rho = _correlation_of(cov_i[lms], var_i, np.diag(cov)[lms])
    # band-wise high-resolution component P_k^h = cc_k P + (1 - cc_k) M~_k and its intensity
    # (Eq. 6-8): regressing LP(P_k^h) = cc_k LP(P) + (1 - cc_k) LP(M~_k) on [1, M~]
    gamma = cc[None] * alpha[:, None] + (1 - cc[None]) * coefs[:, 1:]
    weights = gamma[1:]  # I_k = gamma_0k + sum_j gamma_jk M~_j
    var_ik = np.maximum(np.einsum("jk,jl,lk->k", weights, cov[matched, matched], weights), 0.0)
    inj = _correlation_of(np.einsum("jk,jk->k", weights, cov[matched, lms]), var_ik, np.diag(cov)[lms])
    offset = cc * mean[pan] + (1 - cc) * mean[matched] - (gamma[0] + weights.T @ mean[matched])
    mean_std = std_k.mean()
    gains = beta * inj * std_k / mean_std
    params.update(alpha=alpha, cc=cc, gamma=gamma, detail_offset=offset, gain=gains, rho=rho, beta=float(beta))
    return params


def _correlation_of(cov: np.ndarray, var_a, var_b: np.ndarray) -> np.ndarray:
    """``cov / sqrt(var_a var_b)`` elementwise, 0 where either variance is 0 (as :func:`correlation`)."""
    cov, var_a, var_b = np.broadcast_arrays(np.asarray(cov, float), np.asarray(var_a, float), np.asarray(var_b, float))
    out = np.zeros(cov.shape)
    ok = (var_a > 0) & (var_b > 0)
    out[ok] = cov[ok] / (np.sqrt(var_a[ok]) * np.sqrt(var_b[ok]))
    return out


def _pracs_apply(x: Inputs, params: dict, offset=(0, 0)) -> np.ndarray:
    """``MS~_k + g_k L_k (P_k^h - I_k - offset_k)`` (Choi et al. 2011, Eq. 9-12), ``(C, H, W)`` float64.

    The band intensities ``I_k = [1, M~] gamma_k`` come from one matrix product (the plain sum to
    float64 rounding, tested); each band's expression is then evaluated in place, in the order written."""
    n = x.nbands
    matched = _pracs_matched_ms(x.lms, params).reshape(n, -1)
    gamma = params["gamma"]
    intensities = gamma[1:].T @ matched
    intensities += gamma[0][:, None]
    out = x.lms.copy().reshape(n, -1)
    pan = x.pan.reshape(-1)
    detail, local = np.empty_like(pan), np.empty_like(pan)
    for k in range(n):
        cc, i_k = params["cc"][k], intensities[k]
        np.multiply(cc, pan, out=detail)  # P_k^h - I_k - offset_k, P_k^h = cc_k P + (1 - cc_k) M~_k
        detail += (1 - cc) * matched[k]
        detail -= i_k
        detail -= params["detail_offset"][k]
        # local instability adjustment L_k = 1 - |1 - rho_k MS~_k / I_k| (Eq. 12)
        np.divide(out[k], safe_denominator(i_k), out=local)
        np.multiply(params["rho"][k], local, out=local)
        np.subtract(1.0, local, out=local)
        np.abs(local, out=local)
        np.subtract(1.0, local, out=local)
        local *= params["gain"][k]
        local *= detail
        out[k] += local
    return out.reshape(x.lms.shape)


PRACS = ClassicalMethod(
    "pracs",
    "PRACS",
    "partial replacement adaptive CS: band-wise PAN/MS blend with local instability adjustment",
    "Choi, Yu, Kim, 'A new adaptive component-substitution-based satellite image fusion by using "
    "partial replacement', IEEE TGRS 49(1), 2011",
    _pracs_estimate,
    _pracs_apply,
    options=("beta",),
    imports=RESIZE_IMPORTS,
)


# ----------------------------------------------------------------------------------------------
# GDAL-style weighted Brovey
# ----------------------------------------------------------------------------------------------


def cubic_upsample(ms: np.ndarray, ratio: int) -> np.ndarray:
    """MS to the PAN grid with cubic convolution (Keys, a = -0.5; GDAL's default resampling)."""
    return np.asarray(imresize(ms, ratio, method="bicubic"), dtype=np.float64)


def _brovey_estimate(x: Inputs, weights="fit") -> dict:
    """Pseudo-PAN weights: ``"fit"`` (default), the non-negative least-squares fit of the PAN reduced
    to the MS grid on the MS bands (no intercept), which makes the pseudo-PAN radiometrically
    comparable with the PAN; ``"equal"``, GDAL's default ``1/N`` (with it the fused image is as
    much too bright as the band mean is darker than the PAN: 21 % on the WV3 sample); or one
    non-negative number per band, as GDAL's ``-w``."""
    n = x.nbands
    if isinstance(weights, str):
        if weights == "equal":
            return {"weights": np.full(n, 1.0 / n)}
        if weights != "fit":
            raise ValueRangeError(f"Brovey weights must be numbers, 'fit' or 'equal'; got {weights!r}")
        design = x.ms.reshape(n, -1).T
        w = nonnegative_least_squares(design, reduced_pan(x).ravel())
        if w.sum() <= 0:
            w = np.full(n, 1.0 / n)
        return {"weights": w}
    w = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if w.size != n:
        raise ShapeError(f"Brovey needs one weight per MS band ({n}); got {w.size}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueRangeError(f"Brovey weights must be finite, non-negative and not all zero; got {w.tolist()}")
    return {"weights": w}


def _brovey_apply(x: Inputs, params: dict, offset=(0, 0)) -> np.ndarray:
    up = cubic_upsample(x.ms, x.ratio)
    pseudo = np.tensordot(params["weights"], up, axes=1)
    # GDAL: the factor is 0 where the pseudo-PAN is 0 (no division by zero, black output)
    factor = np.divide(x.pan, pseudo, out=np.zeros_like(pseudo), where=pseudo != 0)
    return up * factor[None]


BROVEY = ClassicalMethod(
    "brovey",
    "Brovey (GDAL)",
    "GDAL-style weighted Brovey: MS_k * PAN / sum_i w_i MS_i, cubic upsampling, weights fitted (or 'equal' = GDAL's 1/N)",
    "Gillespie, Kahle, Walker, 'Color enhancement of highly correlated images. II. Channel ratio "
    "and chromaticity transformation techniques', Remote Sens. Environ. 22(3), 1987; GDAL "
    "VRTPansharpenedDataset (WeightedBrovey)",
    _brovey_estimate,
    _brovey_apply,
    halo_fn=lambda ratio: 3 * ratio,
    global_stats=False,
    options=("weights",),
    imports=RESIZE_IMPORTS,
)


METHODS = (GS, GSA, C_GSA, BT_H, BDSD, BDSD_PC, PRACS, BROVEY)
