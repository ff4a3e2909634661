"""Quick-look PNGs: RGB composites with a common percentile stretch and a zoomed inset.

Needs matplotlib (``pip install 'pansharpen[plot]'``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import PanSharpenError


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


def _decimate_to(img: np.ndarray, max_side: int) -> np.ndarray:
    step = max(1, int(np.ceil(max(img.shape[:2]) / max_side)))
    return img[::step, ::step]


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
    ``(row, col, size)`` in fused pixels (default: a 256 px square at the centre).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PanSharpenError("quick-looks need matplotlib: pip install 'pansharpen[plot]'") from None
    idx = list(rgb)
    ms_up = np.repeat(np.repeat(ms[idx].astype(np.float64), ratio, axis=1), ratio, axis=2)
    fz = fused[idx].astype(np.float64)
    valid = None if nodata is None else (ms_up != nodata).all(axis=0)
    limits = stretch_limits(ms_up, valid=valid)
    h, w = fz.shape[1:]
    if inset is None:
        size = min(256, h, w)
        inset = ((h - size) // 2, (w - size) // 2, size)
    r, c, s = inset
    fig, axes = plt.subplots(2, 2, figsize=(10, 10), gridspec_kw={"height_ratios": [1, 1]})
    for col, (img, title) in enumerate(((ms_up, titles[0]), (fz, titles[1]))):
        shown = apply_stretch(img, limits)
        axes[0, col].imshow(_decimate_to(shown, max_side), extent=(0, w, h, 0), interpolation="nearest")
        axes[0, col].add_patch(plt.Rectangle((c, r), s, s, fill=False, edgecolor="yellow", linewidth=1.5))
        axes[0, col].set_title(title)
        axes[1, col].imshow(shown[r : r + s, c : c + s], interpolation="nearest")
        axes[1, col].set_title(f"{title}: zoom {s}x{s} px")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
