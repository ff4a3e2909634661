"""Paper figures: visual comparison grids and training curves, written as PNG (matplotlib, Agg).

* :func:`comparison_grid` -- one column per image (reference first, then each method):
  top row the RGB composite with the *same* 2-98 % stretch for every column (computed on
  the reference) and a zoomed inset; bottom row the absolute error against the reference,
  ``mean_c |fused_c - reference_c|`` in digital numbers, on one colour scale for all methods.
* :func:`training_curves` -- loss and validation metrics per epoch of compared runs, one
  panel per quantity, one colour per run (several seeds of a run share its colour).

The PNG size is exact: ``columns * panel_px`` by ``rows * panel_px`` pixels.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .._arrays import to_numpy
from ..errors import DataFormatError, PanSharpenError, ShapeError, ValueRangeError
from ..io.atomic import atomic_path
from ..io.checkpoints import load_checkpoint
from .quicklook import apply_stretch, stretch_limits

_DPI = 100


def _new_figure(width_px: int, height_px: int):
    """A matplotlib Figure on the Agg canvas (no pyplot: no global state, faster import)."""
    try:
        # optional: the plot extra
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure  # optional: the plot extra
    except ImportError:
        raise PanSharpenError("figures need matplotlib: pip install 'pansharpen[plot]'") from None
    fig = Figure(figsize=(width_px / _DPI, height_px / _DPI), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _image(x: Any, name: str) -> np.ndarray:
    a = to_numpy(x)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 3:
        raise ShapeError(f"{name} must be one image (C, H, W); got shape {a.shape}")
    return a


def absolute_error_map(reference: np.ndarray, fused: np.ndarray) -> np.ndarray:
    """``(H, W)`` mean over bands of ``|fused - reference|`` (same units as the inputs)."""
    return np.abs(np.asarray(fused, np.float64) - np.asarray(reference, np.float64)).mean(axis=0)


def _default_inset(h: int, w: int) -> tuple[int, int, int]:
    size = max(1, min(h, w) // 4)
    return (h - size) // 2, (w - size) // 2, size


def comparison_grid(
    reference: Any,
    fused: Mapping[str, Any],
    out: "str | Path",
    rgb: Sequence[int] = (0, 1, 2),
    inset: tuple[int, int, int] | None = None,
    panel_px: int = 240,
    title: str | None = None,
) -> Path:
    """Write the visual comparison of ``fused`` methods against ``reference`` as a PNG.

    Args:
        reference: ground truth ``(C, H, W)`` (digital numbers), numpy or torch.
        fused: ``{label: (C, H, W)}`` in the same units, in column order.
        out: PNG path.
        rgb: band indices shown as red, green, blue (WV3: 4, 2, 1).
        inset: ``(row, col, size)`` of the zoomed square in pixels (default: centre, a quarter).
        panel_px: side of one panel in pixels; the PNG is ``(1 + len(fused)) * panel_px`` wide
            and ``2 * panel_px`` high.
        title: optional caption (written in the empty panel under the reference).

    Raises:
        ShapeError: an image that is not ``(C, H, W)`` or does not match the reference.
        ValueRangeError: no methods, RGB bands out of range, an inset outside the image.
    """
    ref = _image(reference, "reference")
    if not fused:
        raise ValueRangeError("comparison_grid needs at least one fused image")
    images = {label: _image(x, f"fused image {label!r}") for label, x in fused.items()}
    for label, img in images.items():
        if img.shape != ref.shape:
            raise ShapeError(f"fused image {label!r} is {img.shape} but the reference is {ref.shape}; give images on one grid")
    c, h, w = ref.shape
    idx = list(rgb)
    if len(idx) != 3 or any(not 0 <= b < c for b in idx):
        raise ValueRangeError(f"rgb must be three band indices in 0..{c - 1}; got {tuple(rgb)}")
    r0, c0, size = inset if inset is not None else _default_inset(h, w)
    if size < 1 or r0 < 0 or c0 < 0 or r0 + size > h or c0 + size > w:
        raise ValueRangeError(f"inset {(r0, c0, size)} (row, col, size) does not fit in a {h}x{w} image")
    if not isinstance(panel_px, int) or panel_px < 32:
        raise ValueRangeError(f"panel_px must be an integer >= 32; got {panel_px!r}")

    limits = stretch_limits(ref[idx])  # one stretch for all columns: colours are comparable
    errors = {label: absolute_error_map(ref, img) for label, img in images.items()}
    finite = np.concatenate([e[np.isfinite(e)].ravel() for e in errors.values()])
    vmax = float(np.percentile(finite, 99)) if finite.size else 1.0
    vmax = vmax if vmax > 0 else 1.0

    from matplotlib.patches import Rectangle  # optional: the plot extra

    columns = [("reference", ref)] + list(images.items())
    ncol = len(columns)
    fig = _new_figure(ncol * panel_px, 2 * panel_px)
    pad, head = 0.04, 0.14  # fractions of a panel: margin and room for the title
    for j, (label, img) in enumerate(columns):
        x0 = j / ncol
        for row in (0, 1):
            y0 = 0.5 if row == 0 else 0.0
            ax = fig.add_axes([x0 + pad / ncol, y0 + pad / 2, (1 - 2 * pad) / ncol, 0.5 * (1 - pad - head)])
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                shown = apply_stretch(img[idx], limits)
                ax.imshow(shown, interpolation="nearest")
                ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), size, size, fill=False, edgecolor="yellow", linewidth=1))
                zoom = ax.inset_axes([0.58, 0.0, 0.42, 0.42])
                zoom.imshow(shown[r0 : r0 + size, c0 : c0 + size], interpolation="nearest")
                zoom.set_xticks([])
                zoom.set_yticks([])
                for spine in zoom.spines.values():
                    spine.set_edgecolor("yellow")
                ax.set_title(label, fontsize=8)
            elif label == "reference":
                note = f"{title}\n\n" if title else ""
                ax.text(0.5, 0.5, f"{note}|error| in DN\n0 .. {vmax:.3g}\n(99th pct)", ha="center", va="center",
                        fontsize=7, transform=ax.transAxes, wrap=True)
                ax.set_axis_off()
            else:
                err = errors[label]
                ax.imshow(err, cmap="magma", vmin=0.0, vmax=vmax, interpolation="nearest")
                ax.set_title(f"MAE {np.nanmean(err):.3g}", fontsize=7)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, overwrite=True) as tmp:
        fig.savefig(tmp, dpi=_DPI, format=out.suffix.lstrip(".") or "png")
    return out


# ------------------------------------------------------------------------------ curves
def read_history(path: "str | Path") -> list[dict[str, Any]]:
    """Per-epoch records of a training run from a JSON file (a list of dicts, or an object with
    ``"history"``) or a training checkpoint ``W.ckpt`` written by :func:`pansharpen.training.train.train`."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"training record {path} does not exist")
    if path.suffix == ".ckpt":
        data = load_checkpoint(path)
    else:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataFormatError(f"training record {path} is not valid JSON ({exc}); was it truncated?") from None
    history = data.get("history") if isinstance(data, dict) else data
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise DataFormatError(f"{path}: expected a list of per-epoch dicts (or an object with 'history')")
    return history


def _as_runs(value: Any, label: str) -> list[list[dict[str, Any]]]:
    """One run (list of dicts), several runs (list of lists) or a path -> list of runs."""
    if isinstance(value, (str, Path)):
        return [read_history(value)]
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return [list(v) for v in value]
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return [value]
    raise DataFormatError(f"training history of {label!r} must be a list of per-epoch dicts, a list of such lists, or a path")


def training_curves(
    histories: Mapping[str, Any],
    out: "str | Path",
    metrics: Sequence[str] | None = None,
    panel_px: int = 300,
) -> Path:
    """Write loss / validation-metric curves per epoch of compared runs as a PNG.

    Args:
        histories: ``{label: run}``; a run is a list of per-epoch dicts (``epoch``, ``loss``
            and validation metrics such as ``Q2n``, ``SAM``, ``ERGAS``, as written by the train
            pipeline), a list of such lists (seeds; drawn in the label's colour), or a path
            (:func:`read_history`).
        out: PNG path.
        metrics: quantities to plot (default: those of ``loss, Q2n, SAM, ERGAS`` present).
        panel_px: side of one panel; the PNG is ``len(metrics) * panel_px`` by ``panel_px``.

    Raises:
        ValueRangeError: no runs, or none of the requested quantities in any run.
    """
    if not histories:
        raise ValueRangeError("training_curves needs at least one run")
    runs = {label: _as_runs(v, label) for label, v in histories.items()}
    present = {k for rs in runs.values() for run in rs for rec in run for k, v in rec.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    wanted = list(metrics) if metrics is not None else [m for m in ("loss", "Q2n", "SAM", "ERGAS") if m in present]
    wanted = [m for m in wanted if m in present]
    if not wanted:
        raise ValueRangeError(f"none of the quantities {list(metrics or ('loss', 'Q2n', 'SAM', 'ERGAS'))} are in the runs")
    import matplotlib  # optional: the plot extra

    fig = _new_figure(len(wanted) * panel_px, panel_px)
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    n = len(wanted)
    for j, name in enumerate(wanted):
        ax = fig.add_axes([(j + 0.2) / n, 0.14, 0.72 / n, 0.76])
        for k, (label, rs) in enumerate(runs.items()):
            colour = colours[k % len(colours)]
            for s, run in enumerate(rs):
                pts = [(rec.get("epoch", i + 1), rec[name]) for i, rec in enumerate(run)
                       if isinstance(rec.get(name), (int, float)) and math.isfinite(rec[name])]
                if not pts:
                    continue
                x, y = zip(*pts)
                ax.plot(x, y, color=colour, linewidth=1.0, alpha=0.85, marker="." if len(pts) < 30 else None,
                        label=label if s == 0 else None)
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("epoch", fontsize=7)
        ax.tick_params(labelsize=6)
        if name == "loss":
            ax.set_yscale("log")
        if j == 0:
            ax.legend(fontsize=6)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, overwrite=True) as tmp:
        fig.savefig(tmp, dpi=_DPI, format=out.suffix.lstrip(".") or "png")
    return out
