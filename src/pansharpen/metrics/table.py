"""Aggregation over a test set and tables in the order papers print them.

Papers report mean ± std over the test images with MATLAB ``std`` (N-1 normalisation), and
HQNR/QNR as the mean of the per-image values, not recombined from the mean distortions
(metrics-reference.md section 2.5). Columns: reduced resolution SAM, ERGAS, SCC, Q2n, Q; full
resolution D_lambda_K, D_s, HQNR, then D_lambda, QNR.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..errors import DataFormatError

__all__ = ["RR_ORDER", "FR_ORDER", "HIGHER_IS_BETTER", "order_names", "aggregate", "format_table"]

#: Reduced-resolution columns in the order of the published tables.
RR_ORDER = ("SAM", "ERGAS", "SCC", "Q2n", "Q")
#: Full-resolution columns: the HQNR triple the toolbox demos print, then the QNR pair.
FR_ORDER = ("D_lambda_K", "D_s", "HQNR", "D_lambda", "QNR")
#: Direction of each index, for the arrows in table headers.
HIGHER_IS_BETTER = {
    "SAM": False,
    "ERGAS": False,
    "SCC": True,
    "Q2n": True,
    "Q": True,
    "PSNR": True,
    "SSIM": True,
    "D_lambda_K": False,
    "D_s": False,
    "HQNR": True,
    "D_lambda": False,
    "QNR": True,
}

def order_names(names: Iterable[str]) -> list[str]:
    """Index names in paper order (RR then FR); unknown names follow in their given order."""
    names = list(dict.fromkeys(names))
    known = [n for n in (*RR_ORDER, *FR_ORDER) if n in names]
    return known + [n for n in names if n not in known]


def _is_number(value) -> bool:
    return isinstance(value, (Real, np.floating, np.integer)) and not isinstance(value, bool)


def aggregate(rows: Sequence[Mapping[str, float]]) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation (N-1, MATLAB ``std``) of every numeric index over the rows.

    Args:
        rows: one dict per image, as returned by :func:`reduced_resolution_indices` or
            :func:`full_resolution_indices`; non-numeric entries (e.g. ``"cropped_to"``) are
            ignored. Every row must hold the same indices.

    Returns:
        ``{name: (mean, std)}`` in paper order. One row gives std 0 (as MATLAB ``std`` of a
        scalar). A NaN in a column makes that column's mean and std NaN, as in MATLAB.
    """
    rows = list(rows)
    if not rows:
        raise DataFormatError("aggregate needs at least one row of indices; the test set gave none")
    names = order_names(k for k, v in rows[0].items() if _is_number(v))
    for i, row in enumerate(rows):
        missing = [n for n in names if n not in row or not _is_number(row[n])]
        if missing:
            raise DataFormatError(
                f"row {i} lacks {', '.join(missing)} that row 0 has; aggregate rows of one protocol at a time"
            )
    out = {}
    for name in names:
        values = np.array([float(row[name]) for row in rows])
        std = float(values.std(ddof=1)) if values.size > 1 else 0.0
        out[name] = (float(values.mean()), std)
    return out


def _cell(value, digits: int, style: str) -> str:
    if isinstance(value, tuple):
        mean, std = value
        sep = r"$\pm$" if style == "latex" else " ± "
        return f"{mean:.{digits}f}{sep}{std:.{digits}f}"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan" if value is not None else ""
    return f"{float(value):.{digits}f}"


def _header(name: str, arrows: bool) -> str:
    if not arrows or name not in HIGHER_IS_BETTER:
        return name
    return name + ("↑" if HIGHER_IS_BETTER[name] else "↓")


def format_table(
    results,
    digits: int = 4,
    style: str = "text",
    names: Sequence[str] | None = None,
    arrows: bool = True,
) -> str:
    """A table of indices with one row per method or image and the columns in paper order.

    Args:
        results: ``{name: value}`` (one row), ``{label: {name: value}}`` (one row per label) or
            a list of ``{name: value}`` (rows labelled 1, 2, ...). A value is a float or a
            ``(mean, std)`` pair from :func:`aggregate`, printed ``mean ± std``.
        digits: decimals.
        style: ``"text"`` (aligned columns), ``"markdown"`` or ``"latex"`` (tabular rows).
        names: columns to print (default: every index found, in paper order).
        arrows: mark each header with ↓ or ↑ (which way is better).
    """
    if style not in ("text", "markdown", "latex"):
        raise DataFormatError(f"unknown table style {style!r}; use 'text', 'markdown' or 'latex'")
    if isinstance(results, Mapping) and results and all(isinstance(v, Mapping) for v in results.values()):
        table = {str(label): row for label, row in results.items()}
    elif isinstance(results, Mapping):
        table = {"": results}
    else:
        table = {str(i + 1): row for i, row in enumerate(results)}
    if not table:
        raise DataFormatError("format_table got no results to print")
    if names is None:
        names = order_names(
            n for row in table.values() for n, v in row.items() if _is_number(v) or isinstance(v, tuple)
        )
    header = ["", *[_header(n, arrows) for n in names]]
    body = [[label, *[_cell(row.get(n), digits, style) for n in names]] for label, row in table.items()]

    if style == "latex":
        lines = [" & ".join(header) + r" \\", r"\hline"]
        lines += [" & ".join(r) + r" \\" for r in body]
        return "\n".join(lines)
    if style == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))  # noqa: E731
    return "\n".join(fmt(r).rstrip() for r in [header, *body])
