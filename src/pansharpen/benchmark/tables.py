"""Paper-style tables of benchmark results: Markdown, CSV and LaTeX (booktabs).

A table is a list of :class:`Row` s, one per method, with every index as
``(mean, std, seed_std)``: mean and standard deviation (N-1, MATLAB ``std``) over the test
images, and the standard deviation over seeds of the per-seed means (NaN for one seed).
The best mean of each index is bold, as in the papers ("Bold: best").
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

#: indices where larger is better; all others (SAM, ERGAS, D_lambda, D_s, D_lambda_K) smaller is better
HIGHER_IS_BETTER = frozenset({"Q2n", "Q", "SCC", "QNR", "HQNR"})
REDUCED_INDICES = ("Q2n", "Q", "SAM", "ERGAS", "SCC")
FULL_INDICES = ("D_lambda", "D_s", "QNR", "D_lambda_K", "HQNR")

_LATEX_NAMES = {"D_lambda": r"$D_\lambda$", "D_s": r"$D_s$", "D_lambda_K": r"$D_\lambda^K$", "Q2n": "Q2n"}


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1, MATLAB ``std``); std is NaN for one value."""
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return math.nan, math.nan
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else math.nan


@dataclass
class Row:
    """One method on one test set.

    Attributes:
        label: method name in the table.
        cells: ``{index: (mean, std over images, std over seeds)}``.
        params: parameter count (None for classical methods).
        macs_per_pixel: multiply-accumulates per output pixel (None for classical methods).
        seconds: mean fusion time per image on this machine.
        seeds: number of seeds aggregated; ``images``: images per seed.
        form: ``"folded"``/``"unfolded"`` for networks, ``""`` for classical methods.
        extra: free columns for the CSV (training time ...).
    """

    label: str
    cells: dict[str, tuple[float, float, float]]
    params: int | None = None
    macs_per_pixel: float | None = None
    seconds: float = math.nan
    seeds: int = 1
    images: int = 0
    form: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gmacs_64(self) -> float | None:
        """G multiply-accumulates of one 64 x 64 output (the papers' "GFLOPs" column)."""
        return None if self.macs_per_pixel is None else self.macs_per_pixel * 64 * 64 / 1e9


def best_rows(rows: Sequence[Row], indices: Sequence[str]) -> dict[str, int | None]:
    """Index of the row with the best mean of each index (None when no finite value)."""
    best: dict[str, int | None] = {}
    for name in indices:
        values = [r.cells.get(name, (math.nan,))[0] for r in rows]
        finite = [(v, i) for i, v in enumerate(values) if math.isfinite(v)]
        if not finite:
            best[name] = None
            continue
        pick = max if name in HIGHER_IS_BETTER else min
        best[name] = pick(finite)[1]
    return best


def _num(x: float | None, digits: int = 4) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _params(n: int | None) -> str:
    if n is None:
        return "–"
    return f"{n / 1000:.1f}K" if n < 1_000_000 else f"{n / 1e6:.2f}M"


def _arrow(name: str) -> str:
    return "↑" if name in HIGHER_IS_BETTER else "↓"


def _has_seed_spread(rows: Sequence[Row]) -> bool:
    return any(r.seeds > 1 for r in rows)


def markdown_table(rows: Sequence[Row], indices: Sequence[str], digits: int = 4) -> str:
    """GitHub Markdown table: index columns ``mean ± std``, then params, MACs and time."""
    best = best_rows(rows, indices)
    head = ["Method", *[f"{n} {_arrow(n)}" for n in indices], "Params", "MACs/px", "GMACs@64²", "Time/img (s)", "Seeds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for i, r in enumerate(rows):
        cells = []
        for n in indices:
            m, s, _ = r.cells.get(n, (math.nan, math.nan, math.nan))
            text = f"{_num(m, digits)} ± {_num(s, digits)}"
            cells.append(f"**{text}**" if best[n] == i else text)
        macs = "–" if r.macs_per_pixel is None else f"{r.macs_per_pixel:,.0f}"
        gm = "–" if r.gmacs_64 is None else f"{r.gmacs_64:.3f}"
        label = f"{r.label} ({r.form})" if r.form == "folded" else r.label
        lines.append("| " + " | ".join([label, *cells, _params(r.params), macs, gm, _num(r.seconds), str(r.seeds)]) + " |")
    if _has_seed_spread(rows):
        lines += ["", "Seed spread (std over seeds of the per-seed means, N-1):", ""]
        lines.append("| Method | " + " | ".join(indices) + " |")
        lines.append("|---|" + "|".join(["---:"] * len(indices)) + "|")
        for r in rows:
            lines.append("| " + " | ".join([r.label, *[_num(r.cells.get(n, (0, 0, math.nan))[2], digits) for n in indices]]) + " |")
    return "\n".join(lines) + "\n"


def csv_rows(rows: Sequence[Row], indices: Sequence[str], context: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Flat dicts (one per row) with ``<index>_mean``, ``<index>_std``, ``<index>_seed_std`` columns."""
    out = []
    for r in rows:
        d: dict[str, Any] = dict(context or {})
        d["method"] = r.label
        d["form"] = r.form
        for n in indices:
            m, s, ss = r.cells.get(n, (math.nan, math.nan, math.nan))
            d[f"{n}_mean"], d[f"{n}_std"], d[f"{n}_seed_std"] = m, s, ss
        d.update(params=r.params, macs_per_pixel=r.macs_per_pixel, gmacs_64=r.gmacs_64, seconds_per_image=r.seconds,
                 seeds=r.seeds, images=r.images)
        d.update(r.extra)
        out.append(d)
    return out


def write_csv(records: Iterable[dict[str, Any]]) -> str:
    """CSV text of ``records`` (the union of their keys, in first-seen order)."""
    records = list(records)
    fields: list[str] = []
    for rec in records:
        fields += [k for k in rec if k not in fields]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow({k: ("" if v is None else v) for k, v in rec.items()})
    return buf.getvalue()


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"), ("$", r"\$")):
        text = text.replace(a, b)
    return text


def latex_table(rows: Sequence[Row], indices: Sequence[str], caption: str, label: str, comments: Sequence[str] = (),
                digits: int = 4) -> str:
    """A booktabs ``table`` with ``mean$\\pm$std`` cells, the best mean in bold."""
    best = best_rows(rows, indices)
    lines = [f"% {c}" for c in comments]
    arrows = {n: r"$\uparrow$" if n in HIGHER_IS_BETTER else r"$\downarrow$" for n in indices}
    lines += [r"\begin{table}[t]", r"\centering", rf"\caption{{{_latex_escape(caption)}}}", rf"\label{{{label}}}",
              r"\begin{tabular}{l" + "c" * len(indices) + "rrr}", r"\toprule"]
    head = ["Method", *[f"{_LATEX_NAMES.get(n, _latex_escape(n))}{arrows[n]}" for n in indices], "Params", "GMACs",
            "Time (s)"]
    lines.append(" & ".join(head) + r" \\")
    lines.append(r"\midrule")
    for i, r in enumerate(rows):
        cells = []
        for n in indices:
            m, s, _ = r.cells.get(n, (math.nan, math.nan, math.nan))
            mean = _num(m, digits)
            if best[n] == i:
                mean = rf"\textbf{{{mean}}}"
            cells.append(rf"{mean}$\pm${_num(s, digits)}")
        gm = "--" if r.gmacs_64 is None else f"{r.gmacs_64:.3f}"
        params = "--" if r.params is None else _params(r.params)
        lines.append(" & ".join([_latex_escape(r.label), *cells, params, gm, _num(r.seconds)]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- timing
@dataclass
class TimingRow:
    """One method form in the timing table: median of interleaved repeats."""

    label: str
    median: float
    times: list[float]
    macs_per_pixel: float | None = None
    params: int | None = None

    def ratio_to(self, fastest: float) -> float:
        return self.median / fastest if fastest > 0 else math.nan


def timing_markdown(rows: Sequence[TimingRow]) -> str:
    fastest = min((r.median for r in rows), default=math.nan)
    lines = ["| Method | Median (s) | × fastest | Min (s) | Max (s) | Params | MACs/px |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: r.median):
        macs = "–" if r.macs_per_pixel is None else f"{r.macs_per_pixel:,.0f}"
        lines.append(f"| {r.label} | {r.median:.4f} | {r.ratio_to(fastest):.2f} | {min(r.times):.4f} | {max(r.times):.4f} | "
                     f"{_params(r.params)} | {macs} |")
    return "\n".join(lines) + "\n"


def timing_records(rows: Sequence[TimingRow], context: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    fastest = min((r.median for r in rows), default=math.nan)
    return [dict(context or {}, method=r.label, median_s=r.median, ratio_to_fastest=r.ratio_to(fastest), min_s=min(r.times),
                 max_s=max(r.times), repeats=len(r.times), params=r.params, macs_per_pixel=r.macs_per_pixel)
            for r in sorted(rows, key=lambda r: r.median)]


def timing_latex(rows: Sequence[TimingRow], caption: str, comments: Sequence[str] = ()) -> str:
    fastest = min((r.median for r in rows), default=math.nan)
    lines = [f"% {c}" for c in comments]
    lines += [r"\begin{table}[t]", r"\centering", rf"\caption{{{_latex_escape(caption)}}}", r"\begin{tabular}{lrrr}",
              r"\toprule", r"Method & Median (s) & $\times$ fastest & Params \\", r"\midrule"]
    for r in sorted(rows, key=lambda r: r.median):
        params = "--" if r.params is None else _params(r.params)
        lines.append(rf"{_latex_escape(r.label)} & {r.median:.4f} & {r.ratio_to(fastest):.2f} & {params} \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"
