"""Multiresolution-analysis (MRA) pansharpening: EXP, MTF-GLP family, AWLP, MF.

General MRA model (Vivone et al., "A critical comparison among pansharpening algorithms",
IEEE TGRS 53(5), 2015, Eq. 11; "A new benchmark based on recent advances in multispectral
pansharpening", IEEE GRSM 9(1), 2021)::

    F_k = MS~_k + g_k (P_k - P_L,k)              (additive)
    F_k = MS~_k * P_k / P_L,k                     (high-pass modulation, HPM)

``MS~`` is the MS upsampled with interp23tap (EXP), ``P_k`` the PAN (equalised to band k where
the method does so) and ``P_L,k`` its low-pass version. Shapes: ``ms`` ``(C, h, w)`` digital
numbers, ``pan`` ``(H, W)``, ``H = ratio * h``; output ``(C, H, W)`` float64.

The equalised PAN ``P_k = (P - mu_P) s_k + mu_k`` is an increasing affine map of ``P``, and all
low-pass operators here (linear filters and the morphological pyramid) commute with it up to
the filter's DC gain ``c``: ``LP(P_k) = s_k LP(P) + (mu_k - s_k mu_P) c``. The code uses that
identity so the (expensive) low-pass of the PAN is computed once per distinct MTF gain. Scene
statistics (equalisation moments, regression gains, the haze cap) are taken in one streamed pass
over strips (:func:`scene_moments`), so no full-resolution ``MS~`` or low-pass PAN is held.
"""
from __future__ import annotations

import numpy as np

from ..protocol.resize import LAZY_IMPORTS as RESIZE_IMPORTS
from ._common import (
    ClassicalMethod,
    Inputs,
    Moments,
    map_strips,
    safe_divide,
    safe_ratio,
    upsampled_with_detail,
)
from ._lowpass import (
    glp_dc_gain,
    glp_decimated,
    glp_halo,
    glp_unit_response,
    haze_cap,
    morphological_halo,
    morphological_lowpass,
    stack_by_gain,
    starlet_halo,
    starlet_lowpass,
    upsample_interp23tap,
)
from ._upsampled_moments import UpsampledMoments
from .component_substitution import intensity_regression

# ----------------------------------------------------------------------------------------------
# Shared intermediates
# ----------------------------------------------------------------------------------------------


def _gains(x: Inputs) -> tuple[float, ...]:
    return tuple(float(g) for g in x.sensor.ms_gnyq)


def _glp_decimated(x: Inputs) -> tuple[tuple[float, ...], np.ndarray]:
    """The MS-grid MTF-filtered PAN per distinct gain (:func:`glp_decimated`), cached on ``x``."""
    key = ("glp_lr", _gains(x))
    if key not in x.cache:
        x.cache[key] = glp_decimated(x.pan, _gains(x), x.ratio)
    return x.cache[key]


def pan_glp_lowpass(x: Inputs) -> list[np.ndarray]:
    """``P_L,k`` of the raw PAN for each band (MTF-GLP with band k's MTF gain), cached on ``x``.

    Whole images, one per distinct gain: for a tile. Scene statistics use :func:`scene_moments`."""
    key = ("glp", _gains(x))
    if key not in x.cache:
        distinct, low = _glp_decimated(x)
        up = upsample_interp23tap(low, x.ratio)
        x.cache[key] = {g: up[i] for i, g in enumerate(distinct)}
    return stack_by_gain(x.cache[key], _gains(x))


def _glp_dc(x: Inputs) -> list[np.ndarray]:
    """``LP(1)`` per band (see :func:`glp_unit_response`), cached on ``x``."""
    key = ("glp_unit", x.pan.shape)
    if key not in x.cache:
        x.cache[key] = {g: glp_unit_response(x.pan.shape, g, x.ratio) for g in set(_gains(x))}
    return [x.cache[key][g] for g in _gains(x)]


class SceneMoments:
    """Scene statistics of ``MS~_k``, ``P_L,k`` and ``P`` from one streamed pass (:func:`scene_moments`).

    ``moments`` (a :class:`~pansharpen.classical._common.Moments`) holds the variables ``lms(k)``,
    ``low(k)`` (band k's low-pass PAN, shared by the bands of one MTF gain) and ``pan()``; ``low_min``
    is the minimum of each band's low-pass PAN.
    """

    def __init__(self, nbands: int, gains: tuple[float, ...], lms: bool, lows: bool, pan: bool):
        self.moments: Moments | None = None  # set by scene_moments once the layout gives the pairs
        distinct = tuple(sorted(set(gains)))
        nxt = 0
        self._lms = nxt if lms else None
        nxt += nbands if lms else 0
        self._low = nxt if lows else None
        nxt += len(distinct) if lows else 0
        self._pan = nxt if pan else None
        self.nvars = nxt + (1 if pan else 0)
        self.gain_index = [distinct.index(g) for g in gains]
        self.low_min = np.full(len(distinct), np.inf)

    def lms(self, k: int) -> int:
        return self._lms + k

    def low(self, k: int) -> int:
        return self._low + self.gain_index[k]

    def pan(self) -> int:
        return self._pan

    def mean(self, i: int) -> float:
        return float(self.moments.mean[i])

    def var(self, i: int) -> float:
        return float(self.moments.var(ddof=1)[i])

    def cov(self, i: int, j: int) -> float:
        return float(self.moments.cov(ddof=1)[self.moments.pairs.index((i, j))])


def scene_moments(x: Inputs, *, lms=True, lows=True, pan=False, pairs=lambda sm: (), rows: int = 32,
                  minima: bool = True) -> SceneMoments:
    """Means, variances, the co-moments ``pairs(sm)`` lists and (``minima``) the low-pass minima.

    The moments of the upsampled MS-grid images (``MS~``, the low-pass PANs) come from their
    low-resolution spectra and those with the PAN from one adjoint pass over it
    (:class:`~pansharpen.classical._upsampled_moments.UpsampledMoments`: no upsampling, equal to the
    streamed moments to about 1e-13 relative); the minima from the low-pass PANs upsampled in strips.
    With a caller's own ``MS~`` (``x.given_lms``), one pass over strips of ``rows`` MS rows instead:
    the strips of ``MS~`` and of the low-pass PANs are bitwise the rows of the whole images
    (:func:`~pansharpen.classical._lowpass.upsample_strips`), and the moments are combined with the
    pairwise update, so the results equal the whole-array formulas to float64 rounding (tested)
    while only one strip is held (the whole-image low-pass PANs of an 8-band scene took 3 GB).
    """
    sm = SceneMoments(x.nbands, _gains(x), lms, lows, pan)
    low_lr = _glp_decimated(x)[1] if lows else None
    if x.lms_is_upsampled_ms:
        images = np.concatenate(([x.ms] if lms else []) + ([low_lr] if lows else []), axis=0)
        sm.moments = UpsampledMoments(images, x.ratio, pairs=pairs(sm), full=x.pan if pan else None)
        if lows and minima:  # the low-pass PANs upsampled in strips (bitwise the whole images' rows), in threads
            for low_min in map_strips(x, lambda r0, r1, strip: strip.reshape(strip.shape[0], -1).min(axis=1),
                                      others=(low_lr,), lms=False, threaded=True):
                sm.low_min = np.minimum(sm.low_min, low_min)
        return sm
    sm.moments = Moments(sm.nvars, pairs=pairs(sm))

    def summarize(r0, r1, *strips):  # no shared state touched (map_strips)
        parts = [strip.reshape(strip.shape[0], -1) for strip in strips]  # MS~ (if lms), low-pass PANs (if lows)
        low_min = parts[-1].min(axis=1) if lows else None
        if pan:
            parts.append(x.pan[r0:r1].reshape(1, -1))
        return low_min, sm.moments.summarize(np.concatenate(parts, axis=0), overwrite=True)

    for low_min, summary in map_strips(x, summarize, rows, others=(low_lr,) if lows else (), lms=lms):
        if lows:
            sm.low_min = np.minimum(sm.low_min, low_min)
        sm.moments.merge(summary)
    return sm


def _equalization_params(x: Inputs) -> dict:
    """``P_k = (P - mu_P) s_k + mu_k`` with ``s_k = std(MS~_k) / std(P_L,k)`` (low-pass PAN moments)."""
    sm = scene_moments(x, minima=False)
    mu_k = np.array([sm.mean(sm.lms(k)) for k in range(x.nbands)])
    std_k = np.sqrt([sm.var(sm.lms(k)) for k in range(x.nbands)])
    std_low = np.sqrt([sm.var(sm.low(k)) for k in range(x.nbands)])
    scale = np.array([safe_ratio(s, d) for s, d in zip(std_k, std_low)])
    return {"pan_mean": float(x.pan.mean()), "scale": scale, "band_mean": mu_k}


# ----------------------------------------------------------------------------------------------
# EXP
# ----------------------------------------------------------------------------------------------


def _exp_estimate(x: Inputs) -> dict:
    return {}


def _exp_apply(x: Inputs, params: dict, offset=(0, 0)) -> np.ndarray:
    return x.lms.copy()


EXP = ClassicalMethod(
    "exp",
    "EXP",
    "MS upsampled to the PAN grid with the 23-tap interpolator (no PAN detail; the baseline)",
    "Aiazzi, Alparone, Baronti, Garzelli, 'Context-driven fusion ... oversampled multiresolution "
    "analysis', IEEE TGRS 40(10), 2002 (interp23tap)",
    _exp_estimate,
    _exp_apply,
    global_stats=False,
    reads_scene=False,
)


# ----------------------------------------------------------------------------------------------
# MTF-GLP (unit gains), HPM, HPM-H, FS, CBD
# ----------------------------------------------------------------------------------------------


def _glp_estimate(x: Inputs) -> dict:
    return _equalization_params(x)


def additive_injection(x: Inputs, gain: np.ndarray, shift: np.ndarray | None = None) -> np.ndarray:
    """``F_k = MS~_k + g_k (P - P_L,k) + b_k (1 - LP(1)_k)``: the additive MTF-GLP injection with
    gains ``g`` ``(C,)`` and, for the equalised PAN ``P_k = g_k P + b_k`` of MTF-GLP, the shifts
    ``b`` (whose low-pass is ``b_k LP(1)``, :func:`~pansharpen.classical._lowpass.glp_unit_response`).

    ``MS~ = upsample(MS)`` and ``P_L,k = upsample(L_k)`` (``L_k`` the MS-grid low-pass PAN) are the
    same linear operator, so the MS-grid combination is upsampled once per band:
    ``F_k = upsample(MS_k - g_k L_k - b_k c_k) + g_k P + b_k`` (``c_k`` the kernel's DC gain,
    ``LP(1) = c_k upsample(1)``): ``C`` upsamplings instead of ``C`` + one per MTF gain, and two
    full-resolution passes per band instead of six. Equal to the sum as written (kept for a
    caller's own ``MS~``, e.g. at a sub-pixel grid phase) to float64 rounding (tested).
    """
    shift = np.zeros(x.nbands) if shift is None else shift
    if not x.lms_is_upsampled_ms:  # MS~ is not upsample(MS): the sum as written
        lows, dc = pan_glp_lowpass(x), _glp_dc(x)
        out = np.empty_like(x.lms)
        for k in range(x.nbands):
            out[k] = x.lms[k] + (gain[k] * x.pan + shift[k]) - (gain[k] * lows[k] + shift[k] * dc[k])
        return out
    distinct, low = _glp_decimated(x)
    combined = np.empty_like(x.ms)
    for k, g in enumerate(_gains(x)):
        combined[k] = x.ms[k] - gain[k] * low[distinct.index(g)] - shift[k] * glp_dc_gain(g, x.ratio)
    return upsampled_with_detail(x, combined, gain, x.pan, shift)


def _glp_apply(x: Inputs, params: dict, offset=(0, 0)) -> np.ndarray:
    """MTF-GLP: ``F_k = MS~_k + P_k - LP(P_k)`` with ``P_k = s_k P + (mu_k - s_k mu_P)``."""
    scale = params["scale"]
    return additive_injection(x, scale, params["band_mean"] - scale * params["pan_mean"])


MTF_GLP = ClassicalMethod(
    "mtf-glp",
    "MTF-GLP",
    "additive injection of PAN minus its MTF-matched GLP low-pass (unit gains)",
    "Aiazzi, Alparone, Baronti, Garzelli, Selva, 'MTF-tailored multiscale fusion of high-resolution "
    "MS and Pan imagery', PE&RS 72(5), 2006",
    _glp_estimate,
    _glp_apply,
    halo_fn=glp_halo,
)


def _hpm_estimate(x: Inputs) -> dict:
    return {}


def _hpm_apply(x: Inputs, params: dict, offset=(0, 0)) -> np.ndarray:
    lows = pan_glp_lowpass(x)
    out = np.empty_like(x.lms)
    modulation = {}  # bands of one MTF gain share their low-pass PAN (the same array), hence P / P_L
    for k in range(x.nbands):
        if id(lows[k]) not in modulation:
            modulation[id(lows[k])] = safe_divide(x.pan, lows[k])
        np.multiply(x.lms[k], modulation[id(lows[k])], out=out[k])
    return out


MTF_GLP_HPM = ClassicalMethod(
    "mtf-glp-hpm",
    "MTF-GLP-HPM",
    "multiplicative (high-pass modulation) injection: MS~ * P / P_L with the MTF-GLP low-pass",
    "Aiazzi, Alparone, Baronti, Garzelli, Selva, 'An MTF-based spectral distortion minimizing model "
    "for pan-sharpening of very high resolution multispectral images of urban areas', URBAN 2003",
    _hpm_estimate,
    _hpm_apply,
    halo_fn=glp_halo,
    global_stats=False,
    reads_scene=False,
)


def haze_and_intensity_weights(x: Inputs) -> dict:
    """Path-radiance (haze) per band and the PAN haze (Lolli et al. 2017).

    The haze of band k is its darkest value (dark-object estimate, ``min MS_k``); the PAN haze is
    the regression intensity of the band hazes, ``H_P = b + sum_k w_k H_k``, with ``(w, b)`` from
    the least-squares fit of the reduced-resolution PAN on the LR MS (as in GSA), capped by
    :func:`~pansharpen.classical._lowpass.haze_cap` of the darkest band's low-pass PAN (with
    collinear bands the regression can put ``H_P`` above dark PAN values).
    """
    weights, bias = intensity_regression(x, "haze estimate")
    sm = scene_moments(x, lms=False)
    cap = min(haze_cap(sm.low_min[sm.gain_index[k]], sm.mean(sm.low(k))) for k in range(x.nbands))
    haze, pan_haze = dark_object_haze(x.ms.reshape(x.nbands, -1), weights, bias, cap)
    return {"haze": haze, "pan_haze": pan_haze, "weights": weights, "bias": bias}


def dark_object_haze(ms_pixels: np.ndarray, weights: np.ndarray, bias: float, cap: float) -> tuple[np.ndarray, float]:
    """Band hazes ``H_k = min ms_k`` over ``ms_pixels (C, n)`` and the PAN haze
    ``H_P = min(b + sum_k w_k H_k, cap)`` (Lolli et al. 2017; :func:`haze_and_intensity_weights`)."""
    haze = ms_pixels.min(axis=1)
    return haze, min(float(bias + weights @ haze), cap)


def _hpm_haze_estimate(x: Inputs) -> dict:
    return haze_and_intensity_weights(x)


def _hpm_haze_apply(x: Inputs, params: dict, offset=(0, 0)) -> np.ndarray:
    """``F_k = H_k + (MS~_k - H_k) (P - H_P) / (P_L,k - H_P)`` (Lolli et al. 2017, Eq. 6)."""
    lows = pan_glp_lowpass(x)
    h_p = params["pan_haze"]
    out = np.empty_like(x.lms)
    pan = x.pan - h_p
    modulation = {}  # shared by the bands of one MTF gain (the same low-pass array)
    for k in range(x.nbands):
        h_k = params["haze"][k]
        if id(lows[k]) not in modulation:
            modulation[id(lows[k])] = safe_divide(pan, lows[k] - h_p)
        band = np.subtract(x.lms[k], h_k, out=out[k])  # in place, in the order written: the same bits
        band *= modulation[id(lows[k])]
        band += h_k
    return out


MTF_GLP_HPM_H = ClassicalMethod(
    "mtf-glp-hpm-h",
    "MTF-GLP-HPM-H",
    "MTF-GLP-HPM with haze (path radiance) removed before the multiplicative injection",
    "Lolli, Alparone, Garzelli, Vivone, 'Haze correction for contrast-based multispectral "
    "pansharpening', IEEE GRSL 14(12), 2017",
    _hpm_haze_estimate,
    _hpm_haze_apply,
    halo_fn=glp_halo,
    imports=RESIZE_IMPORTS,
)


def _fs_estimate(x: Inputs) -> dict:
    """Full-scale regression gains ``g_k = cov(MS~_k, P) / cov(P_L,k, P)`` (Vivone et al. 2018)."""
    n = x.nbands
    sm = scene_moments(x, pan=True, pairs=lambda sm: sorted({(i, sm.pan()) for k in range(n) for i in (sm.lms(k), sm.low(k))}),
                       minima=False)
    gains = [safe_ratio(sm.cov(sm.lms(k), sm.pan()), sm.cov(sm.low(k), sm.pan())) for k in range(n)]
    return {"gain": np.array(gains)}


def _gain_apply(x: Inputs, params: dict, offset=(0, 0)) -> np.ndarray:
    return additive_injection(x, params["gain"])


MTF_GLP_FS = ClassicalMethod(
    "mtf-glp-fs",
    "MTF-GLP-FS",
    "MTF-GLP with injection gains regressed at full scale, g_k = cov(MS~_k, P) / cov(P_L, P)",
    "Vivone, Restaino, Chanussot, 'Full scale regression-based injection coefficients for "
    "panchromatic sharpening', IEEE TIP 27(7), 2018",
    _fs_estimate,
    _gain_apply,
    halo_fn=glp_halo,
)


def _cbd_estimate(x: Inputs) -> dict:
    """Global context-based-decision gains ``g_k = cov(MS~_k, P_L,k) / var(P_L,k)``."""
    n = x.nbands
    sm = scene_moments(x, pairs=lambda sm: [(sm.lms(k), sm.low(k)) for k in range(n)], minima=False)
    gains = [safe_ratio(sm.cov(sm.lms(k), sm.low(k)), sm.var(sm.low(k))) for k in range(n)]
    return {"gain": np.array(gains)}


MTF_GLP_CBD = ClassicalMethod(
    "mtf-glp-cbd",
    "MTF-GLP-CBD",
    "MTF-GLP with regression (context-based decision, global) gains cov(MS~_k, P_L) / var(P_L)",
    "Aiazzi, Alparone, Baronti, Garzelli, Selva, PE&RS 72(5), 2006; Alparone et al., 'Comparison of "
    "pansharpening algorithms: outcome of the 2006 GRS-S data-fusion contest', IEEE TGRS 45(10), 2007",
    _cbd_estimate,
    _gain_apply,
    halo_fn=glp_halo,
)


# ----------------------------------------------------------------------------------------------
# AWLP
# ----------------------------------------------------------------------------------------------


def _plain_equalization(x: Inputs) -> dict:
    """``P_k = (P - mu_P) std(MS~_k) / std(P) + mu_k`` (moments of the full-resolution PAN)."""
    std_p = float(x.pan.std(ddof=1))
    sm = scene_moments(x, lows=False, minima=False)
    return {
        "pan_mean": float(x.pan.mean()),
        "scale": np.sqrt(sm.moments.var(ddof=1)) / std_p,
        "band_mean": sm.moments.mean.copy(),
    }


def _awlp_apply(x: Inputs, params: dict, offset=(0, 0)) -> np.ndarray:
    detail = x.pan - starlet_lowpass(x.pan, x.ratio)  # DC gain 1: equalisation shift cancels
    mean_ms = x.lms.mean(axis=0)
    safe = np.where(mean_ms != 0, mean_ms, 1.0)
    weight = np.where(mean_ms != 0, 1.0 / safe, 0.0)
    out, scaled = np.empty_like(x.lms), np.empty_like(detail)
    for k in range(x.nbands):  # lms_k + (lms_k w)(s_k detail), in place in that order: the same bits
        band = np.multiply(x.lms[k], weight, out=out[k])
        band *= np.multiply(params["scale"][k], detail, out=scaled)
        band += x.lms[k]
    return out


AWLP = ClassicalMethod(
    "awlp",
    "AWLP",
    "additive wavelet luminance proportional: a-trous PAN details weighted by MS~_k / mean(MS~)",
    "Otazu, Gonzalez-Audicana, Fors, Nunez, 'Introduction of sensor spectral response into image "
    "fusion methods. Application to wavelet-based methods', IEEE TGRS 43(10), 2005",
    _plain_equalization,
    _awlp_apply,
    halo_fn=starlet_halo,
)


# ----------------------------------------------------------------------------------------------
# MF (morphological filters, half-gradient)
# ----------------------------------------------------------------------------------------------


def _mf_apply(x: Inputs, params: dict, offset=(0, 0)) -> np.ndarray:
    modulation = safe_divide(x.pan, morphological_lowpass(x.pan, x.ratio))  # the same for every band
    out = np.empty_like(x.lms)
    for k in range(x.nbands):
        np.multiply(x.lms[k], modulation, out=out[k])
    return out


MF = ClassicalMethod(
    "mf",
    "MF",
    "morphological half-gradient pyramid low-pass with multiplicative (HPM) injection",
    "Restaino, Vivone, Dalla Mura, Chanussot, 'Fusion of multispectral and panchromatic images "
    "based on morphological operators', IEEE TIP 25(6), 2016",
    _hpm_estimate,
    _mf_apply,
    halo_fn=morphological_halo,
    global_stats=False,
    reads_scene=False,
)


METHODS = (EXP, MTF_GLP, MTF_GLP_HPM, MTF_GLP_HPM_H, MTF_GLP_FS, MTF_GLP_CBD, AWLP, MF)

__all__ = ["EXP", "MTF_GLP", "MTF_GLP_HPM", "MTF_GLP_HPM_H", "MTF_GLP_FS", "MTF_GLP_CBD", "AWLP", "MF", "METHODS"]
