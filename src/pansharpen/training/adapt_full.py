"""Zero-shot adaptation at full resolution: fine-tune a network on the user's own PAN + MS product.

No ground truth and no Wald degradation: the network fuses the product at its native scales and
learns from the unsupervised loss of :mod:`.full_resolution` (spectral consistency with the MS
after the sensor's MTF and decimation, local correlation with the PAN), as Z-PNN and lambda-PNN
do (Ciotola et al., TGRS 2022 and 2023; written from the papers, not from their code).

Geometry (MS pixels; the PAN window of an MS window is ``ratio`` times larger)::

    rows [0, t)      training area: patches of ``patch`` MS pixels are cut here
    rows [t, h)      held-out strip (``held_out`` of the rows): ``eval_windows`` windows of
                     ``eval_size`` MS pixels, never seen in training, score the weights

**Patch choice** (salient regions first, as lambda-PNN): candidate windows on a grid of step
``patch`` over the area (at most ``max_candidates``, evenly thinned when there are more) are read
one at a time (windowed reads: memory is bounded by one window, whatever the product's size);
a candidate holding any nodata pixel (the raster's nodata value, or 0 when none is declared, in
the PAN or in any MS band) is skipped; the others are ranked by the PAN's texture, the mean
absolute gradient divided by the mean level. The ``patches`` kept are the top three quarters
by texture plus one quarter drawn at random (seeded) from the rest, so that smooth areas are
represented too. Each patch keeps its MS margin for the interpolated ``lms`` (no border
artefact) and the per-window spatial target of the loss.

**Never worse**: the starting weights and the adapted weights fuse the held-out windows; both
are scored with the full-resolution indices (D_lambda, D_s, QNR, D_lambda_K, HQNR of
:func:`pansharpen.metrics.full_resolution_indices`, R-Q2n, R-SAM, R-ERGAS and D_rho of
:mod:`pansharpen.metrics.reprojection`; with S-Q2n, S-SAM, S-ERGAS, Wald's protocol on the same
windows, reported but not in the rule), averaged over the windows. The adapted weights are
kept only if they are better on HQNR by at least ``MIN_GAIN`` (0.001) **and** no worse on the
other axes: D_rho at most ``MIN_GAIN`` higher, R-Q2n at most ``MIN_GAIN`` lower, R-ERGAS at most
``ERGAS_SLACK`` (1 %) higher (:func:`is_improvement`). A gain on one no-reference index bought
with a loss on another is not a gain: on the tuning products of docs/adaptation.md every
adaptation whose reduced-resolution Q2n fell (checked against the ground truth) had lost on one
of these axes, and every one that improved it had not. Otherwise the starting weights are
written unchanged and ``kept == "start"`` tells the caller.

**Interruption**: the output is written once, at the end, through
:func:`pansharpen.models.save` (temporary file + rename); an adaptation stopped at any point
(Ctrl-C, kill) publishes nothing and a rerun starts afresh.
"""
from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import models
from ..classical._lowpass import haze_cap
from ..classical.component_substitution import fit_intensity
from ..classical.multiresolution import dark_object_haze
from ..errors import ModelError, ShapeError, ValueRangeError
from ..fusion.checks import check_input_values
from ..fusion.fuse import default_choice, fuse
from ..fusion.fusers import interp23_margin_lr
from ..io.atomic import check_output
from ..io.grid import PairGrid
from ..io.sources import RasterSource
from ..io.windows import Window
from ..metrics.full import full_resolution_indices
from ..metrics.reduced import reduced_resolution_indices
from ..metrics.reprojection import d_rho, reprojection_indices
from ..models.detailnet import DetailNet
from ..models.inference import inference_module
from ..protocol.consistency import require_aligned_grid
from ..protocol.interp import interp23tap
from ..protocol.policy import resolve_sensor
from ..protocol.resize import imresize
from ..protocol.wald import wald_degrade
from .adapt_defaults import AUTO_CHOICES, BLEND_WEIGHT, CONSISTENCY_CHOICES, CONSISTENT, INJECTION, INJECTIONS
from .full_resolution import (
    QNR_BLOCK,
    QNR_WEIGHT,
    SCALE_WEIGHT,
    SPATIAL_WEIGHT,
    SPECTRAL_WEIGHT,
    TARGETS,
    FullResolutionLoss,
    correlation_target,
    qnr_target,
)

__all__ = [
    "ERGAS_SLACK",
    "MIN_GAIN",
    "FullResolutionAdaptResult",
    "ProductWindows",
    "adapt_and_fuse",
    "adapt_full_resolution",
    "select_windows",
    "starting_model",
    "weights_path_for",
]

#: smallest HQNR gain that counts, and the most D_rho may rise and R-Q2n fall with it
MIN_GAIN = 1e-3
#: the most R-ERGAS may rise (relative) with an HQNR gain
ERGAS_SLACK = 0.01
#: a fresh network's tail parameters are scaled by this (start close to EXP)
FRESH_TAIL_SCALE = 0.1
#: indices reported before/after, in this order
INDEX_NAMES = ("HQNR", "D_lambda_K", "D_s", "QNR", "D_lambda", "R-Q2n", "R-SAM", "R-ERGAS", "D_rho",
               "S-Q2n", "S-SAM", "S-ERGAS")


# ------------------------------------------------------------------------------ the product
class ProductWindows:
    """Windowed access to a PAN + MS product in MS-pixel coordinates (bounded memory).

    ``read(r0, c0, size, margin)`` returns ``(ms, pan, valid)``: the MS window of ``size``
    pixels plus ``margin`` on each side (mirrored outside the raster), the PAN under the
    ``size`` window, and whether the window (without margin) is inside the product and free of
    nodata.
    """

    def __init__(self, pan_path, ms_path, sources=None):
        self.pan_src, self.ms_src = sources if sources is not None else (RasterSource(pan_path), RasterSource(ms_path))
        self.grid = PairGrid.from_infos(self.pan_src.info, self.ms_src.info)
        self.ratio = self.grid.ratio
        r = self.ratio
        # MS pixels whose PAN footprint lies wholly inside the PAN raster
        self.row0 = max(0, -(-(-self.grid.row_offset) // r))
        self.col0 = max(0, -(-(-self.grid.col_offset) // r))
        self.height = min(self.ms_src.info.height, (self.pan_src.info.height - self.grid.row_offset) // r)
        self.width = min(self.ms_src.info.width, (self.pan_src.info.width - self.grid.col_offset) // r)
        self.bands = self.ms_src.info.count
        self.nodata = (self.pan_src.info.nodata, self.ms_src.info.nodata)

    def read(self, r0: int, c0: int, size: int, margin: int = 0):
        ms = self.ms_src.read(Window(r0, r0 + size, c0, c0 + size).expand(margin))
        pan = self.pan_src.read(self.pan_window(r0, c0, size))
        inner = ms[:, margin: margin + size, margin: margin + size]
        return ms, pan, self._valid(inner, pan)

    def pan_window(self, r0: int, c0: int, size: int, halo: int = 0) -> Window:
        """The PAN window under the MS window ``[r0, r0+size) x [c0, c0+size)`` grown by ``halo`` MS pixels."""
        g, r = self.grid, self.ratio
        return Window(r0, r0 + size, c0, c0 + size).expand(halo).scale(r).shift(g.row_offset, g.col_offset)

    def _valid(self, ms: np.ndarray, pan: np.ndarray) -> bool:
        nd_pan, nd_ms = self.nodata
        nd_pan = 0.0 if nd_pan is None else nd_pan
        nd_ms = 0.0 if nd_ms is None else nd_ms
        if not (np.isfinite(ms).all() and np.isfinite(pan).all()):
            return False
        return not ((pan == nd_pan).any() or (ms == nd_ms).any())

    def describe(self) -> dict[str, Any]:
        return {"pan": Path(self.pan_src.info.path).name, "ms": Path(self.ms_src.info.path).name,
                "ms_size": [self.height, self.width], "bands": self.bands, "ratio": self.ratio}


def texture(pan: np.ndarray) -> float:
    """Mean absolute PAN gradient over its mean level (scale-free saliency score)."""
    p = pan[0]
    grad = np.abs(np.diff(p, axis=0)).mean() + np.abs(np.diff(p, axis=1)).mean()
    return float(grad / max(abs(float(p.mean())), 1e-12))


def select_windows(product: ProductWindows, rows: tuple[int, int], size: int, count: int, *,
                   seed: int = 0, max_candidates: int = 1024, salient_fraction: float = 0.75) -> list[tuple[int, int]]:
    """Origins (MS pixels) of up to ``count`` nodata-free ``size`` windows in ``rows`` (module docstring)."""
    r_lo, r_hi = max(rows[0], product.row0), rows[1]
    starts_r = list(range(r_lo, r_hi - size + 1, size))
    starts_c = list(range(product.col0, product.width - size + 1, size))
    grid = [(r, c) for r in starts_r for c in starts_c]
    if len(grid) > max_candidates:
        keep = np.linspace(0, len(grid) - 1, max_candidates).round().astype(int)
        grid = [grid[i] for i in keep]
    scored = []
    for r, c in grid:
        _, pan, valid = product.read(r, c, size)
        if valid:
            scored.append((texture(pan), r, c))
    scored.sort(key=lambda t: -t[0])
    n_salient = min(len(scored), max(1, math.ceil(count * salient_fraction)))
    chosen = scored[:n_salient]
    rest = scored[n_salient:]
    extra = min(len(rest), count - n_salient)
    if extra > 0:
        pick = np.random.default_rng(seed).choice(len(rest), size=extra, replace=False)
        chosen += [rest[i] for i in sorted(pick)]
    return [(r, c) for _, r, c in chosen]


@dataclass
class Patches:
    """Training patches on the network scale (DN / normaliser), float32 tensors."""

    ms: torch.Tensor  # (N, C, p, p)
    pan: torch.Tensor  # (N, 1, P, P)
    lms: torch.Tensor  # (N, C, P, P)
    target: torch.Tensor | float  # (N, C, P-s+1, P-s+1) or 1.0
    origins: list[tuple[int, int]]
    qnr: torch.Tensor | None = None  # (N, C, P/QNR_BLOCK, P/QNR_BLOCK) when the QNR term is on


def cut_patches(product: ProductWindows, origins, size: int, normaliser: float, target: str,
                qnr: bool = False) -> Patches:
    """Read the windows at ``origins`` with their interpolation margin and build the tensors."""
    r = product.ratio
    m = interp23_margin_lr(r)
    ms_l, pan_l, lms_l = [], [], []
    for r0, c0 in origins:
        ms, pan, _ = product.read(r0, c0, size, margin=m)
        lms = interp23tap(ms[None], r)[0][:, m * r: (m + size) * r, m * r: (m + size) * r]
        ms_l.append(ms[:, m: m + size, m: m + size])
        pan_l.append(pan)
        lms_l.append(lms)
    ms_a, pan_a, lms_a = np.stack(ms_l), np.stack(pan_l), np.stack(lms_l)
    tgt = torch.from_numpy(correlation_target(lms_a, pan_a, r)) if target in ("ms", "match") else 1.0
    as_t = lambda a: torch.from_numpy((a / normaliser).astype(np.float32))  # noqa: E731
    q = torch.from_numpy(qnr_target(lms_a, pan_a, r)) if qnr else None
    return Patches(as_t(ms_a), as_t(pan_a), as_t(lms_a), tgt, list(origins), q)


#: MS pixels around a cross-scale patch that the network sees but the loss does not score
SCALE_MARGIN = 16
#: MS pixels read beyond that for the Wald degradation (the 41-tap MTF kernel's reach)
SCALE_CONTEXT = 24


@dataclass
class CoarsePatches:
    """The training patches Wald-degraded by the ratio, for the cross-scale term (network scale).

    ``ms (N, C, S/R, S/R)``, ``pan (N, 1, S, S)``, ``lms (N, C, S, S)`` with ``S = patch + 2 margin``
    MS pixels; ``gt (N, C, patch, patch)`` the product's MS under the inner ``patch`` pixels.
    """

    ms: torch.Tensor
    pan: torch.Tensor
    lms: torch.Tensor
    gt: torch.Tensor
    margin: int


def scale_margin(ratio: int, patch: int, option: str = "--patch") -> int:
    """The smallest margin >= :data:`SCALE_MARGIN` that makes ``patch + 2 margin`` whole LR pixels of the
    degraded window (none exists for an odd window at an even ratio: ``ShapeError`` naming ``option``,
    the command-line option that set the window's size)."""
    for margin in range(SCALE_MARGIN, SCALE_MARGIN + ratio):
        if (patch + 2 * margin) % ratio == 0:
            return margin
    raise ShapeError(f"{patch}-pixel windows cannot be Wald-degraded by the even ratio {ratio} (cross-scale "
                     f"term, blend start, held-out S-Q2n); use an even {option}")


def cut_coarse_patches(product: ProductWindows, origins, size: int, normaliser: float, sensor) -> CoarsePatches:
    """Each training window with a :func:`scale_margin`, Wald-degraded by the product's ratio
    (:func:`~pansharpen.protocol.wald.wald_degrade`, read with :data:`SCALE_CONTEXT` more MS pixels
    so that the MTF filter sees real pixels), and the MS under it as the ground truth."""
    r = product.ratio
    m, e = scale_margin(r, size), r * math.ceil(SCALE_CONTEXT / r)
    ms_l, pan_l, lms_l, gt_l = [], [], [], []
    for r0, c0 in origins:
        ms, _, _ = product.read(r0, c0, size, margin=m + e)
        pan = product.pan_src.read(product.pan_window(r0, c0, size, m + e))
        ms_lr, pan_lr = wald_degrade(ms, pan, sensor, r)
        lms = interp23tap(np.asarray(ms_lr)[None], r)[0]
        k = e // r
        ms_l.append(np.asarray(ms_lr)[:, k:-k, k:-k])
        pan_l.append(np.asarray(pan_lr)[:, e:-e, e:-e])
        lms_l.append(lms[:, e:-e, e:-e])
        gt_l.append(ms[:, e + m: e + m + size, e + m: e + m + size])
    as_t = lambda a: torch.from_numpy((np.stack(a) / normaliser).astype(np.float32))  # noqa: E731
    return CoarsePatches(as_t(ms_l), as_t(pan_l), as_t(lms_l), as_t(gt_l), m)


# ------------------------------------------------------------------------------ evaluation
def _fuse_window(model: nn.Module, product: ProductWindows, r0: int, c0: int, size: int, normaliser: float,
                 max_value: float, device: str):
    """Fuse one held-out window with its context (the receptive field and the interp margin)."""
    r = product.ratio
    halo = math.ceil(max(getattr(model.card, "receptive_field", 0) or 16, 1) / r)
    m = interp23_margin_lr(r) + halo
    ms, pan_w, _ = product.read(r0, c0, size, margin=m)
    # the PAN of the window with its halo (mirrored outside the raster like the MS)
    pan = product.pan_src.read(product.pan_window(r0, c0, size, halo))
    mi = m - halo  # MS margin beyond the halo, used only by the interpolation
    lms = interp23tap(ms[None], r)[0][:, mi * r: (mi + size + 2 * halo) * r, mi * r: (mi + size + 2 * halo) * r]
    ms_in = ms[:, mi: mi + size + 2 * halo, mi: mi + size + 2 * halo]
    t = lambda a: torch.from_numpy((a[None] / normaliser).astype(np.float32)).to(device)  # noqa: E731
    with torch.no_grad():
        out = model(t(ms_in), t(pan), t(lms))[0].double().cpu().numpy() * normaliser
    out = out[:, halo * r: (halo + size) * r, halo * r: (halo + size) * r]
    return np.clip(out, 0.0, max_value), ms[:, m: m + size, m: m + size], pan_w


def score(model: nn.Module, product: ProductWindows, windows, size: int, sensor, normaliser: float,
          device: str = "cpu", scale: bool = True) -> dict[str, float]:
    """Mean full-resolution indices of ``model`` over the held-out ``windows`` (``INDEX_NAMES``;
    ``scale=False``: without S-Q2n, S-SAM, S-ERGAS, so any window size works)."""
    engine, _ = inference_module(model, device=device)
    engine.card = model.card
    rows = []
    for r0, c0 in windows:
        fused, ms, pan = _fuse_window(engine, product, r0, c0, size, normaliser, sensor.max_value, device)
        row = full_resolution_indices(fused, ms, pan, sensor, product.ratio, crop_to_blocks=True,
                                      max_value=sensor.max_value)
        row.update(reprojection_indices(fused, ms, sensor, product.ratio, block_size=min(32, size),
                                        max_value=sensor.max_value))
        row["D_rho"] = d_rho(fused, pan, product.ratio)
        if scale:
            row.update(_scale_indices(engine, product, r0, c0, size, sensor, normaliser, device))
        rows.append(row)
    return {k: float(np.mean([row[k] for row in rows])) for k in INDEX_NAMES if k in rows[0]}


def _scale_indices(model: nn.Module, product: ProductWindows, r0: int, c0: int, size: int, sensor,
                   normaliser: float, device: str) -> dict[str, float]:
    """S-Q2n, S-SAM, S-ERGAS: the window Wald-degraded by the ratio (:func:`cut_coarse_patches`),
    fused, and scored against the product's MS with the reduced-resolution indices: Wald's
    protocol on the held-out window, the one check with a ground truth (under scale invariance)."""
    cp = cut_coarse_patches(product, [(r0, c0)], size, normaliser, sensor)
    m = cp.margin
    with torch.no_grad():
        out = model(cp.ms.to(device), cp.pan.to(device), cp.lms.to(device))[0, :, m:-m, m:-m]
    fused = np.clip(out.double().cpu().numpy() * normaliser, 0.0, sensor.max_value)
    ref = product.read(r0, c0, size)[0]  # in DN (cp.gt went through the normaliser in float32)
    idx = reduced_resolution_indices(ref, fused, product.ratio, max_value=sensor.max_value,
                                     block_size=min(32, size))
    return {"S-Q2n": idx["Q2n"], "S-SAM": idx["SAM"], "S-ERGAS": idx["ERGAS"]}


def is_improvement(before: dict[str, float], after: dict[str, float]) -> bool:
    """The documented criterion (module docstring): HQNR better by ``MIN_GAIN`` and no worse on
    D_rho (spatial consistency), R-Q2n and R-ERGAS (spectral consistency), within small slacks."""
    better = after["HQNR"] >= before["HQNR"] + MIN_GAIN
    sharp = after["D_rho"] <= before["D_rho"] + MIN_GAIN
    spectral = after["R-Q2n"] >= before["R-Q2n"] - MIN_GAIN and after["R-ERGAS"] <= before["R-ERGAS"] * (1 + ERGAS_SLACK)
    return bool(better and sharp and spectral)


# ------------------------------------------------------------------------------ the model
def starting_model(model: str | None, weights, bands: int, sensor, ratio: int, seed: int = 0,
                   options: dict[str, Any] | None = None, consistent: bool | str = CONSISTENT
                   ) -> tuple[nn.Module, str]:
    """The network to adapt and where it came from (``"weights FILE"``, ``"bundled NAME"``, ``"fresh ARCH"``).

    ``weights`` (a file) wins; else ``model`` names bundled weights or an architecture (fresh
    weights for ``bands`` bands, seeded); else the bundled default for the sensor, or a fresh
    :data:`FRESH_DEFAULT` network when no bundled weights fit. ``consistent``: a fresh detail-net
    ends with the consistency projection (:class:`~pansharpen.models.detailnet.DetailNet`); other
    starts are as they are.
    """
    if weights is not None and model is not None and model not in models.list_models():
        raise ModelError("give either --model or --weights, not both")
    bundled = models.bundled_weights()
    if weights is not None:
        net, origin = models.load(weights), f"weights {Path(weights).name}"
        if model and net.card.arch != model:
            raise ModelError(f"{weights} holds {net.card.arch} weights, not {model}; name the matching model or drop --model")
    elif model in bundled:
        net, origin = models.load(model), f"bundled {model}"
    elif model is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            opts = dict(FRESH_OPTIONS.get(model, {}), **_sensor_options(model, sensor, bands, ratio))
            if model == "detail-net":  # "auto": built consistent, then chosen (:func:`choose_consistency`)
                opts["consistent"] = consistent in (True, "on", "auto")
            opts.update(options or {})
            net = models.create(model, bands=bands, **opts)
        _quiet_residual(net)
        origin = f"fresh {model}"
    else:
        try:
            kind, name, _ = default_choice(sensor, bands, ratio)
        except ModelError:
            kind = "method"
        if kind != "model":  # no bundled network for this data: a fresh one
            return starting_model(FRESH_DEFAULT, None, bands, sensor, ratio, seed, options, consistent)
        net, origin = models.load(name), f"bundled {name}"
    if net.card.bands != bands:
        raise ModelError(
            f"{origin} fuses {net.card.bands} bands but the MS has {bands}; adapt a fresh network instead "
            f"(--model {net.card.arch}) or pass weights for {bands}-band data"
        )
    if getattr(net, "ratio", ratio) != ratio:
        raise ModelError(f"{origin} works at ratio {net.ratio} but the product's PAN/MS ratio is {ratio}; "
                         "use a network built for that ratio or a classical method")
    return net, origin


def _sensor_options(model: str, sensor, bands: int, ratio: int) -> dict[str, Any]:
    """The constructor options a fresh ``model`` takes from the product (its registered
    ``product_options``: detail-net's ratio and MTF gains)."""
    wanted = models.product_options(model)
    opts: dict[str, Any] = {}
    if "ratio" in wanted:
        opts["ratio"] = ratio
    if "mtf_gains" in wanted:
        opts["mtf_gains"] = list(sensor.ms_gnyq) if sensor is not None and len(sensor.ms_gnyq) == bands else None
    return opts


def _quiet_residual(net: nn.Module, factor: float = FRESH_TAIL_SCALE) -> None:
    """Scale the parameters of a fresh residual network's ``tail`` by ``factor``, so that its output
    ``lms + tail(...)`` starts close to EXP (the interpolated MS) instead of far from it."""
    tail = getattr(net, "tail", None)
    if isinstance(tail, nn.Module):
        with torch.no_grad():
            for p in tail.parameters():
                p.mul_(factor)


#: architecture of a fresh network when no bundled weights fit the product
FRESH_DEFAULT = "detail-net"
#: options of fresh networks (LightNet's authors' init does not leave the EXP output in short budgets)
FRESH_OPTIONS: dict[str, dict[str, Any]] = {"lightnet": {"init": "balanced"}}


# ------------------------------------------------------------------------------ the loop
@dataclass
class FullResolutionAdaptResult:
    """Outcome of :func:`adapt_full_resolution`: what was written and how the indices moved."""

    out: Path
    kept: str  # "adapted" or "start"
    before: dict[str, float]
    after: dict[str, float]
    iterations: int
    seconds: float
    origin: str
    history: list[dict[str, float]] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)
    model: nn.Module | None = None
    sensor: Any = None  # the Sensor used for the MTF
    trained_state: dict[str, torch.Tensor] | None = None  # the weights at the end of training, kept or not
    start_state: dict[str, torch.Tensor] | None = None  # the weights training started from (after --injection)

    def table(self) -> str:
        """Markdown table of the held-out indices before and after."""
        head = "| weights | " + " | ".join(INDEX_NAMES) + " |"
        lines = [head, "|---" * (len(INDEX_NAMES) + 1) + "|"]
        for label, m in (("start", self.before), ("adapted", self.after)):
            lines.append(f"| {label} | " + " | ".join(f"{m[k]:.4f}" for k in INDEX_NAMES) + " |")
        return "\n".join(lines)




@torch.no_grad()
def haze_estimate(net: DetailNet, ms: torch.Tensor, pan: torch.Tensor) -> tuple[torch.Tensor, float]:
    """MTF-GLP-HPM-H's haze over a batch of patches (Lolli et al. 2017), as ``classical`` estimates
    it for a scene: band k's darkest value, and the PAN haze from the intensity regression of the
    PAN reduced to the MS grid (bicubic ``imresize``) on the MS bands, capped by
    :func:`~pansharpen.classical._lowpass.haze_cap` of the darkest low-pass PAN of ``net``.
    ``ms (N, C, h, w)``, ``pan (N, 1, R h, R w)`` on the network scale; returns ``(H (C,), H_P)``."""
    pixels = ms.detach().double().cpu().numpy().transpose(1, 0, 2, 3).reshape(net.bands, -1)
    pan_lr = np.stack([np.asarray(imresize(p, 1.0 / net.ratio), dtype=np.float64)[0]
                       for p in pan.detach().double().cpu().numpy()])
    weights, bias = fit_intensity(pixels, pan_lr.ravel(), "detail-net haze estimate")
    low = net.pan_lowpass(pan.double()).transpose(0, 1).reshape(net.bands, -1)
    cap = min(haze_cap(float(low[k].min()), float(low[k].mean())) for k in range(net.bands))
    haze, pan_haze = dark_object_haze(pixels, weights, bias, cap)
    return torch.from_numpy(haze), pan_haze


def cs_regression(coarse: CoarsePatches) -> tuple[torch.Tensor, torch.Tensor]:
    """BDSD's coefficients (Garzelli et al., IEEE TGRS 2008), one global set regressed at the reduced
    scale on the Wald-degraded training patches: per band k, least squares of the detail the
    degraded MS lacks, ``gt_k - lms_lr,k``, on ``[P_lr, lms_lr,1..C, 1]`` over the patches' inner
    pixels (BDSD's hypothesis: the same coefficients inject the full-resolution detail).

    Returns ``coefficients (C, C + 1)`` (PAN first) and ``bias (C,)``, float32, for
    :meth:`DetailNet.start_blend`."""
    m = coarse.margin
    inner = lambda t: t[..., m:-m, m:-m].double()  # noqa: E731
    lms, pan, gt = inner(coarse.lms), inner(coarse.pan), coarse.gt.double()
    c = lms.shape[1]
    x = torch.cat([pan, lms, torch.ones_like(pan)], dim=1).transpose(0, 1).reshape(c + 2, -1).T
    y = (gt - lms).transpose(0, 1).reshape(c, -1).T
    scale = x.abs().amax(dim=0).clamp_min(1e-12)  # columns on one scale for the solver
    sol = torch.linalg.lstsq(x / scale, y).solution / scale[:, None]  # (C + 2, C)
    return sol[: c + 1].T.float().contiguous(), sol[c + 1].float().contiguous()


def _set_injection(net: DetailNet, kind: str, data: Patches, coarse: CoarsePatches | None = None) -> dict[str, Any]:
    """Make a fresh detail-net start as MTF-GLP-HPM, -HPM-H or -FS, its statistics taken on the
    training patches (a statistic of the product, no ground truth), or (``blend-X``) as the
    average of that start and a global BDSD regressed on the Wald-degraded patches (``coarse``,
    :func:`cs_regression`); returns the statistics for the card."""
    if kind.startswith("blend-"):
        stats = _set_injection(net, kind.removeprefix("blend-"), data)
        coefficients, bias = cs_regression(coarse)
        net.start_blend(BLEND_WEIGHT, coefficients, bias)
        return {**stats, "blend_weight": BLEND_WEIGHT, "cs_coefficients": coefficients.tolist(),
                "cs_bias": bias.tolist()}
    if kind == "hpm":
        return {}
    if kind == "fs":
        gains = net.regression_gains(data.pan, data.lms)
        net.start_additive(gains)
        return {"gains": [round(float(g), 6) for g in gains]}
    haze, pan_haze = haze_estimate(net, data.ms, data.pan)
    net.start_haze(haze, pan_haze)
    return {"haze": [round(float(h), 6) for h in haze], "pan_haze": round(pan_haze, 6)}


def choose_injection(net: DetailNet, data: Patches, product: ProductWindows, rows: tuple[int, int], size: int,
                     count: int, sensor, normaliser: float, injection: str, seed: int = 0,
                     coarse: CoarsePatches | None = None) -> dict[str, Any]:
    """Set a fresh detail-net's starting injection; returns what was chosen, for the card.

    ``"hpm"`` is the network as created (MTF-GLP-HPM). ``"hpm-h"`` starts at MTF-GLP-HPM-H with the
    haze of the training patches (:func:`haze_estimate`), ``"fs"`` at MTF-GLP-FS with
    their full-scale regression gains (:meth:`DetailNet.regression_gains`). ``"auto"`` scores the
    starts of :data:`AUTO_CHOICES` (HPM, FS) on ``count`` windows of ``size`` MS pixels in the
    training ``rows`` (never the held-out strip) and keeps the one with the highest HQNR: the
    adaptation's own primary criterion, on pixels it trains on anyway. ``"blend-X"`` starts at the
    average of X's start and a global BDSD regressed on the Wald-degraded training patches
    (``coarse``, :func:`cs_regression`); ``"blend"`` chooses X as ``"auto"`` does.
    """
    fresh_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    if injection == "blend":  # the MRA part chosen as "auto" chooses, then blended
        choice = choose_injection(net, data, product, rows, size, count, sensor, normaliser, "auto", seed)
        blend = f"blend-{choice['injection']}"
        net.load_state_dict(fresh_state)
        return {**choice, "injection": blend, "asked": "blend", **_set_injection(net, blend, data, coarse)}
    if injection != "auto":
        return {"injection": injection, **_set_injection(net, injection, data, coarse)}
    windows, size = training_windows(product, data, rows, size, count, seed)
    fresh = {k: v.detach().clone() for k, v in net.state_dict().items()}
    hqnr, stats = {}, {}
    for kind in AUTO_CHOICES:
        net.load_state_dict(fresh)
        stats[kind] = _set_injection(net, kind, data)
        hqnr[kind] = score(net, product, windows, size, sensor, normaliser, scale=False)["HQNR"]
    chosen = max(hqnr, key=hqnr.get)
    net.load_state_dict(fresh)
    _set_injection(net, chosen, data)
    return {"injection": chosen, "asked": "auto", **stats[chosen],
            "HQNR_training_windows": {k: round(v, 6) for k, v in hqnr.items()},
            "windows": [list(w) for w in windows], "size": size}


def training_windows(product: ProductWindows, data: Patches, rows: tuple[int, int], size: int, count: int,
                     seed: int = 0) -> tuple[list[tuple[int, int]], int]:
    """``count`` windows of ``size`` MS pixels in the training ``rows`` that score a start (never the
    held-out strip); a training area lower than ``size``: the first training patches, at their size."""
    windows = select_windows(product, rows, size, count, seed=seed)
    if not windows:
        return [tuple(o) for o in data.origins[:count]], data.ms.shape[-1]
    return windows, size


def _set_consistency(net: DetailNet, flag: bool) -> None:
    """Turn the projection on or off, and say so in the card (options, receptive field)."""
    net.consistent = bool(flag)
    net.card = replace(net.card, options={**net.card.options, "consistent": net.consistent},
                       receptive_field=net.receptive_field())


def choose_consistency(net: DetailNet, product: ProductWindows, windows, size: int, sensor,
                       normaliser: float) -> dict[str, Any]:
    """``--consistent auto``: keep the consistency projection at the end of a fresh detail-net only if
    it raises the HQNR of the start on ``windows`` (``size`` MS pixels) of the training area.

    The projection trusts the sensor's MTF model (with a bicubic-made MS it lowered the accuracy;
    with a weak floor it lowered Landsat-7's full-resolution HQNR; docs/adaptation.md), so the
    product decides. Sets ``net.consistent`` and the card's option."""
    hqnr = {}
    for flag in (False, True):
        net.consistent = flag
        hqnr[flag] = score(net, product, windows, size, sensor, normaliser, scale=False)["HQNR"]
    chosen = hqnr[True] > hqnr[False]
    _set_consistency(net, chosen)
    return {"consistent": chosen, "HQNR_training_windows": {str(k).lower(): round(v, 6) for k, v in hqnr.items()}}


def _augment(batch: list[torch.Tensor], k: int, flip: bool) -> list[torch.Tensor]:
    out = [torch.rot90(t, k, dims=(-2, -1)) for t in batch]
    return [torch.flip(t, dims=(-1,)) for t in out] if flip else out


def adapt_full_resolution(
    pan_path: str | os.PathLike,
    ms_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    model: str | None = None,
    weights: str | os.PathLike | None = None,
    minutes: float | None = None,
    iterations: int | None = None,
    sensor: str | None = None,
    mtf_ms=None,
    mtf_pan: float | None = None,
    bits: int | None = None,
    device: str = "cpu",
    patch: int = 32,
    patches: int = 48,
    batch_size: int = 8,
    held_out: float = 0.2,
    eval_size: int = 64,
    eval_windows: int = 2,
    lr: float | None = None,
    spectral_weight: float = SPECTRAL_WEIGHT,
    spatial_weight: float = SPATIAL_WEIGHT,
    qnr_weight: float = QNR_WEIGHT,
    scale_weight: float = SCALE_WEIGHT,
    target: str = "ms",
    injection: str = INJECTION,
    consistent: bool | str = CONSISTENT,
    seed: int = 0,
    overwrite: bool = False,
    model_options: dict[str, Any] | None = None,
    callback: Callable[[dict[str, float]], None] | None = None,
    quiet: bool = True,
    _sources=None,
) -> FullResolutionAdaptResult:
    """Adapt a network to the product ``pan_path`` + ``ms_path`` at full resolution and write ``out``.

    Args:
        model, weights: the start (see :func:`starting_model`).
        minutes, iterations: budget (either or both; default 3 minutes). Iterations are
            optimiser steps on ``batch_size`` patches.
        sensor, mtf_ms, mtf_pan, bits: the sensor for the MTF, by the project's sensor policy
            (:func:`pansharpen.protocol.policy.resolve_sensor`: option > product metadata; unknown:
            the generic toolbox sensor with a warning).
        device: ``cpu``, ``cuda`` or ``auto``.
        patch, patches: patch side (MS pixels) and how many are cut from the training area.
        held_out, eval_size, eval_windows: the held-out strip (fraction of rows) and the
            windows scored in it (``eval_size`` MS pixels).
        lr: Adam learning rate (default 3e-3 for a fresh network, 2e-4 from trained weights).
        spectral_weight, spatial_weight, qnr_weight, scale_weight, target: the loss
            (:class:`FullResolutionLoss`; target ``"ms"``, ``"match"`` or ``"one"``).
        injection: a fresh detail-net's starting injection (:func:`choose_injection`): ``"hpm"``
            (MTF-GLP-HPM), ``"hpm-h"`` (MTF-GLP-HPM-H, haze of the training patches), ``"fs"``
            (MTF-GLP-FS, gains regressed on the training patches) or ``"auto"`` (HPM or FS, the
            better HQNR on windows of the training area), ``"blend-X"`` (the average of X's start and a
            global BDSD regressed on the Wald-degraded training patches) or ``"blend"`` (X as ``"auto"``
            chooses it). Other starts ignore it.
        consistent: whether a fresh detail-net ends with the consistency projection
            (:func:`pansharpen.protocol.consistency.project_consistent`): ``"on"``/``True``,
            ``"off"``/``False`` or ``"auto"`` (the better HQNR of the start on windows of the
            training area, :func:`choose_consistency`); other starts ignore it.
        callback: called with ``{"iteration", "loss", "spectral", "spatial", "seconds"}`` after
            every step (progress, tests; an exception raised there stops the run and nothing
            is written).
    """
    out = check_output(out, overwrite)
    if minutes is None and iterations is None:
        minutes = 3.0
    if minutes is not None and not (math.isfinite(minutes) and minutes > 0):
        raise ValueRangeError(f"minutes must be a positive number; got {minutes}")
    if iterations is not None and (int(iterations) != iterations or iterations < 1):
        raise ValueRangeError(f"iterations must be a positive integer; got {iterations}")
    if target not in TARGETS:
        raise ValueRangeError(f"target must be one of {TARGETS}; got {target!r}")
    if injection not in INJECTIONS:
        raise ValueRangeError(f"injection must be one of {INJECTIONS}; got {injection!r}")
    if consistent not in CONSISTENCY_CHOICES:
        raise ValueRangeError(f"--consistent must be on, off or auto; got {consistent!r}")
    if not 0.0 < held_out < 1.0:
        raise ValueRangeError(f"held_out must be a fraction in (0, 1); got {held_out}")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device

    product = ProductWindows(pan_path, ms_path, sources=_sources)
    ratio, bands = product.ratio, product.bands
    sens, why = resolve_sensor(sensor, pan_path=pan_path, ms_path=ms_path, nbands=bands, mtf_ms=mtf_ms,
                               mtf_pan=mtf_pan, bits=bits, unknown_ok=True)
    if why.startswith("unknown"):
        warnings.warn("sensor of the product unknown (no metadata, no --sensor): using the toolbox's generic MTF "
                      "(MS gain 0.3, PAN 0.15, 11 bits); pass --sensor or --mtf-ms/--mtf-pan for better results",
                      stacklevel=2)
    # reflectance, PAN/MS scale mismatch, an MS beyond the sensor's bits: refused as `fuse` refuses them, with
    # no way past: the networks normalise by the sensor's maximum, and a network with biases (bundled weights,
    # lightnet, lgpconv-net) fuses [0, 1] values into noise (a fresh one scored HQNR 6e-17 on its start)
    check_input_values(product.pan_src.read_decimated(1_000_000), product.ms_src.read_decimated(1_000_000),
                       product.pan_src.info, product.ms_src.info, max_value=sens.max_value, override=None)
    # the projection decimates at the toolbox's phase: an MS grid off the PAN's corners gets none
    phase = tuple(product.grid.phase)
    if consistent in (True, "on"):
        require_aligned_grid(phase, "--consistent on", "use --consistent off or auto")
    phase_off = consistent == "auto" and any(phase)
    net, origin = starting_model(model, weights, bands, sens, ratio, seed, model_options,
                                 "off" if phase_off else consistent)
    norm = float(net.card.normaliser)
    border = math.ceil(20 / ratio)
    if patch < 2 * border + 4:
        raise ShapeError(f"patch must be at least {2 * border + 4} MS pixels at ratio {ratio}; got {patch}")
    # the loss and its geometry are checked before any pixel is read
    loss_fn = FullResolutionLoss(sens, ratio, spectral_weight, spatial_weight, two_sided=target == "match",
                                 qnr_weight=qnr_weight, scale_weight=scale_weight)
    # geometries the Wald degradation cannot cut are refused before any pixel is read
    if scale_weight or injection.startswith("blend"):
        scale_margin(ratio, patch)
    scale_margin(ratio, eval_size, "--eval-size")  # the held-out S-Q2n degrades the held-out windows
    if qnr_weight and (patch * ratio) % QNR_BLOCK:
        raise ShapeError(f"the QNR term needs patches of whole {QNR_BLOCK}-pixel PAN blocks; "
                         f"--patch {patch} at ratio {ratio} gives {patch * ratio}; use such a --patch or --qnr-weight 0")

    # held-out strip at the bottom, training area above it
    h = product.height - product.row0
    hold = max(eval_size, int(math.ceil(held_out * h)))
    split = product.row0 + h - hold
    if split - product.row0 < patch or product.width - product.col0 < max(patch, eval_size):
        raise ShapeError(
            f"the product is {h} x {product.width - product.col0} MS pixels: after a {hold}-row held-out strip it "
            f"cannot hold one {patch}-pixel training patch; use a larger product, or `pansharpen adapt` with a smaller --patch/--eval-size"
        )
    held = select_windows(product, (split, product.row0 + h), eval_size, eval_windows, seed=seed)
    if not held:
        raise ShapeError(f"no {eval_size}-pixel held-out window free of nodata in the bottom {hold} MS rows; "
                         "use a product with fewer nodata areas or a smaller --eval-size")
    origins = select_windows(product, (product.row0, split), patch, patches, seed=seed)
    if len(origins) < 1:
        raise ShapeError(f"no {patch}-pixel training patch free of nodata above the held-out strip (MS rows "
                         f"{product.row0}-{split}); use a product with fewer nodata areas or a smaller --patch")
    data = cut_patches(product, origins, patch, norm, target, qnr=bool(qnr_weight))
    fresh_detail = isinstance(net, DetailNet) and origin.startswith("fresh")
    blend = fresh_detail and injection.startswith("blend")
    coarse = cut_coarse_patches(product, origins, patch, norm, sens) if scale_weight or blend else None

    start_choice = None
    if fresh_detail:
        train_rows, size = (product.row0, split), min(eval_size, split - product.row0)
        start_choice = choose_injection(net, data, product, train_rows, size, eval_windows, sens, norm, injection,
                                        seed, coarse)
        if phase_off:
            start_choice["consistency"] = {"consistent": False, "why": f"MS grid phase {phase}"}
        elif consistent == "auto":
            windows, w_size = training_windows(product, data, train_rows, size, eval_windows, seed)
            start_choice["consistency"] = choose_consistency(net, product, windows, w_size, sens, norm)
    start_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    before = score(net, product, held, eval_size, sens, norm, device)

    fresh = origin.startswith("fresh")
    lr = lr if lr is not None else (3e-3 if fresh else 2e-4)
    net = net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    n = data.ms.shape[0]
    batch = min(batch_size, n)
    history: list[dict[str, float]] = []
    t0, cpu0 = time.perf_counter(), time.process_time()
    step = 0
    target_all = data.target
    while True:
        if iterations is not None and step >= iterations:
            break
        if minutes is not None and time.perf_counter() - t0 >= minutes * 60:
            break
        idx = torch.randperm(n, generator=gen)[:batch]
        k = int(torch.randint(0, 4, (1,), generator=gen))
        flip = bool(torch.randint(0, 2, (1,), generator=gen))
        parts = [data.ms[idx], data.pan[idx], data.lms[idx]]
        has_target = isinstance(target_all, torch.Tensor)
        if has_target:
            parts.append(target_all[idx])
        if data.qnr is not None:
            parts.append(data.qnr[idx])
        parts = [p.to(device) for p in _augment(parts, k, flip)]
        ms_b, pan_b, lms_b = parts[:3]
        tgt = parts[3] if has_target else 1.0
        qnr_b = parts[-1] if data.qnr is not None else None
        fused = net(ms_b, pan_b, lms_b)
        pair = None
        if coarse is not None and scale_weight:
            c_ms, c_pan, c_lms, c_gt = (t.to(device) for t in _augment(
                [coarse.ms[idx], coarse.pan[idx], coarse.lms[idx], coarse.gt[idx]], k, flip))
            mc = coarse.margin
            pair = (net(c_ms, c_pan, c_lms)[..., mc:-mc, mc:-mc], c_gt)
        loss, terms = loss_fn(fused, ms_b, pan_b, tgt, qnr_b, pair)
        if not torch.isfinite(loss):
            raise ValueRangeError(f"the adaptation loss became {float(loss)} at iteration {step + 1}; "
                                  "try a smaller --lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        row = {"iteration": step, "loss": float(loss.detach()), **terms, "seconds": time.perf_counter() - t0}
        history.append(row)
        if callback is not None:
            callback(row)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
    net = net.cpu().eval()
    after = score(net, product, held, eval_size, sens, norm, "cpu")
    adapted = is_improvement(before, after)
    trained_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    if not adapted:
        net.load_state_dict(start_state)
    record = {
        "adaptation": "full resolution (unsupervised, Z-PNN/lambda-PNN-style loss)",
        "product": product.describe(),
        "sensor": sens.name,
        "sensor_source": why,
        "start": origin,
        **({"start_injection": start_choice} if start_choice else {}),
        "loss": {"name": "full-resolution", "target": target, **loss_fn.describe()},
        "optimiser": {"name": "adam", "lr": lr, "batch_size": batch, "patch": patch, "patches": n},
        "iterations": step,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "threads": torch.get_num_threads(),
        "device": device,
        "held_out": {"rows": [split, product.row0 + h], "windows": [list(w) for w in held], "size": eval_size},
        "indices_before": before,
        "indices_after": after,
        "criterion": (f"HQNR better by {MIN_GAIN}; D_rho at most {MIN_GAIN} higher, R-Q2n at most {MIN_GAIN} "
                      f"lower, R-ERGAS at most {ERGAS_SLACK:.0%} higher"),
        "kept": "adapted" if adapted else "start",
        "final_loss": history[-1] if history else None,
    }
    previous = dict(net.card.training) if net.card.training else {}
    card = replace(net.card, training={**record, "previous_training": previous} if previous else record,
                   metrics={"held_out_full_resolution": after if adapted else before},
                   sensors=sorted(set(net.card.sensors) | {sens.name}) if adapted else net.card.sensors)
    models.save(net, out, card=card)
    return FullResolutionAdaptResult(out, "adapted" if adapted else "start", before, after, step, seconds, origin,
                                     history, record, net, sens, trained_state, start_state)


# ------------------------------------------------------------------------------ adapt, then fuse
def weights_path_for(out: str | os.PathLike) -> Path:
    """``OUT.tif`` -> ``OUT.weights.safetensors`` (the adapted weights kept beside a fused product)."""
    out = Path(out)
    return out.with_name(out.stem + ".weights.safetensors")


def adapt_and_fuse(pan_path, ms_path, out, minutes: float, *, model: str | None = None, weights=None,
                   sensor: str | None = None, overwrite: bool = False, device: str = "cpu", quiet: bool = True,
                   fuse_options: dict[str, Any] | None = None) -> tuple[Path, FullResolutionAdaptResult]:
    """``pansharpen fuse ... --adapt MINUTES``: adapt at full resolution, then fuse with the result.

    The adapted (or, when adapting did not help, the starting) weights are written to
    :func:`weights_path_for` ``(out)`` with their card, then the product is fused with them.
    Returns ``(fused path, adaptation result)``.
    """

    out = Path(out)
    check_output(out, overwrite)
    wpath = weights_path_for(out)
    options = dict(fuse_options or {})
    if not options.get("check_range", True):
        raise ValueRangeError("--no-range-check (check_range=False) does not apply with --adapt: the adaptation needs "
                              "digital numbers (its networks normalise by the sensor's maximum); convert the product to "
                              "digital numbers, or fuse without --adapt")
    sensor_facts = {k: options.get(k) for k in ("mtf_ms", "mtf_pan", "bits")}
    res = adapt_full_resolution(pan_path, ms_path, wpath, model=model, weights=weights, minutes=minutes,
                                sensor=sensor, device=device, overwrite=overwrite, quiet=quiet, **sensor_facts)
    if sensor is None and not any(v is not None for v in sensor_facts.values()):
        sensor = res.sensor
    path = fuse(pan_path, ms_path, out, weights=wpath, sensor=sensor, overwrite=overwrite, quiet=quiet, **options)
    return Path(path), res
