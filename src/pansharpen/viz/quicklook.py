"""Quick-look PNGs: RGB composites with a common percentile stretch and a zoomed inset.

Needs matplotlib (``pip install 'pansharpen[plot]'``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import PanSharpenError
from ..io.atomic import atomic_path


def stretch_limits(rgb: np.ndarray, low: float = 2.0, high: float = 98.0, valid: np.ndarray | None = None):
    """Per-channel ``(lo, hi)`` percentiles of a ``(3, H, W)`` image over ``valid`` pixels (nodata excluded)."""
    limits = []
    for band in rgb:
        values = band[valid] if valid is not None else band.ravel()
        values = values[np.isfinite(values)]
        lo, hi = (np.percentile(values, [low, high]) if values.size else (0.0, 1.0))
        limits.append((float(lo), float(hi) if hi > lo else float(lo) + 1.0))
    return limits


def apply_stretch(rgb: np.ndarray, limits) -> np.ndarray:
    """``(3, H, W)`` -> ``(H, W, 3)`` in [0, 1] with the given per-channel limits."""
    out = np.stack([(b - lo) / (hi - lo) for b, (lo, hi) in zip(rgb, limits)], axis=-1)
    return np.clip(out, 0.0, 1.0)


def _views(ms_rgb: np.ndarray, fused: np.ndarray, idx: list[int], ratio: int, inset, max_side: int):
    """``((ms, fused) overview, (ms, fused) inset)``, each ``(3, rows, cols)`` float64: the MS
    nearest-upsampled and the overview decimated to ``max_side``, reading only those pixels."""
    h, w = fused.shape[1:]
    r, c, s = inset
    step = max(1, int(np.ceil(max(h, w) / max_side)))
    views = []
    for rows, cols in ((np.arange(0, h, step), np.arange(0, w, step)), (np.arange(r, r + s), np.arange(c, c + s))):
        views.append((ms_rgb[:, rows // ratio][:, :, cols // ratio], fused[np.ix_(idx, rows, cols)].astype(np.float64)))
    return views


def save_quicklook(
    ms: np.ndarray,
    fused: np.ndarray,
    out: "str | Path",
    rgb: Sequence[int],
    ratio: int,
    inset: tuple[int, int, int] | None = None,
    titles: tuple[str, str] = ("MS (nearest x ratio)", "fused"),
    nodata: float | None = None,
    max_side: int = 900,
) -> Path:
    """Write MS and fused RGB side by side with the same 2-98 % stretch and a zoomed inset below each.

    ``ms`` is ``(C, h, w)``, ``fused`` ``(C, H, W)`` with ``H = ratio*h``; ``inset`` is
    ``(row, col, size)`` in fused pixels (default: a 256 px square at the centre). The MS is shown
    nearest-neighbour upsampled; the stretch limits are the percentiles of its valid pixels. Only
    the displayed pixels are read from ``fused`` (the overview is decimated to ``max_side``), so a
    full scene costs no full-resolution float copies.
    """
    try:
        import matplotlib  # optional: the plot extra

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # optional: the plot extra
    except ImportError:
        raise PanSharpenError("quick-looks need matplotlib: pip install 'pansharpen[plot]'") from None
    idx = list(rgb)
    ms_rgb = ms[idx].astype(np.float64)
    valid = None if nodata is None else (ms_rgb != nodata).all(axis=0)
    limits = stretch_limits(ms_rgb, valid=valid)  # nearest upsampling repeats each MS pixel ratio^2 times
    h, w = fused.shape[1:]
    if inset is None:
        size = min(256, h, w)
        inset = ((h - size) // 2, (w - size) // 2, size)
    r, c, s = inset
    (ms_over, fz_over), (ms_in, fz_in) = _views(ms_rgb, fused, idx, ratio, inset, max_side)
    fig, axes = plt.subplots(2, 2, figsize=(10, 10), gridspec_kw={"height_ratios": [1, 1]})
    for col, (over, zoom, title) in enumerate(((ms_over, ms_in, titles[0]), (fz_over, fz_in, titles[1]))):
        axes[0, col].imshow(apply_stretch(over, limits), extent=(0, w, h, 0), interpolation="nearest")
        axes[0, col].add_patch(plt.Rectangle((c, r), s, s, fill=False, edgecolor="yellow", linewidth=1.5))
        axes[0, col].set_title(title)
        axes[1, col].imshow(apply_stretch(zoom, limits), interpolation="nearest")
        axes[1, col].set_title(f"{title}: zoom {s}x{s} px")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out, overwrite=True) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return out
