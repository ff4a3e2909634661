"""Many products in one call: ``pansharpen fuse --batch LIST.csv|DIR --out-dir OUT``.

Products are listed in a CSV file or found in a folder by file-name conventions (searched at
any depth, sorted):

1. a folder holding ``pan.tif`` and ``ms.tif`` (any case, ``.tif``/``.tiff``), as in the
   project's shared corpus (``landsat/rcran_satellite_lc08/{pan,ms}.tif``): named by the folder
   path below DIR (``landsat_rcran_satellite_lc08``);
2. files ``NAME_PAN.tif`` and ``NAME_MS.tif`` (also ``-PAN``/``-MS``, ``.PAN``/``.MS``,
   ``_P``/``_M``, ``_pan``/``_ms``) in the same folder: named ``NAME``;
3. Maxar product folders ``..._PAN/`` and ``..._MUL/`` side by side, each with one ``*.TIF``:
   named by their common prefix.

The CSV has a header with columns ``pan,ms`` and optionally ``out`` (relative paths are
relative to the CSV's folder); a row without ``out`` writes ``OUT/NAME.tif`` (NAME: the MS
file's stem, or a ``name`` column).

Every product is fused with the same options. A failure is recorded (its one-line message)
and the next product runs; the summary table lists each product's status, time and output.
With ``workers``/``scheduler`` the products are Dask tasks (one product per task).
"""
from __future__ import annotations

import csv
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..errors import DataFormatError, PanSharpenError
from .distributed import map_on_dask
from .fuse import fuse

__all__ = ["BatchItem", "BatchResult", "find_products", "read_product_list", "batch_items", "fuse_batch",
           "summary_table"]

_TIFF = (".tif", ".tiff")
_SUFFIX_PAIRS = (("pan", "ms"), ("p", "m"))
_SEP = "[_.-]"


@dataclass(frozen=True)
class BatchItem:
    """One product: its name, PAN, MS and output path."""

    name: str
    pan: Path
    ms: Path
    out: Path


@dataclass
class BatchResult:
    """What happened to one product: ``ok``, ``seconds``, and the error message when it failed."""

    item: BatchItem
    ok: bool
    seconds: float
    error: str = ""


def _tiffs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _TIFF)


def find_products(root: "str | Path") -> list[tuple[str, Path, Path]]:
    """``(name, pan, ms)`` of every product under ``root`` by the conventions of the module docstring."""
    root = Path(root)
    if not root.is_dir():
        raise DataFormatError(f"{root}: not a folder; give a folder of products or a CSV list (pan,ms,out)")
    found: dict[Path, tuple[str, Path, Path]] = {}
    for folder in sorted([root, *(p for p in root.rglob("*") if p.is_dir())]):
        files = _tiffs(folder)
        by_lower = {p.stem.lower(): p for p in files}
        rel = folder.relative_to(root)
        if "pan" in by_lower and "ms" in by_lower:
            name = "_".join(rel.parts) or root.name
            found[by_lower["ms"]] = (name, by_lower["pan"], by_lower["ms"])
            continue
        for p in files:
            for pan_tag, ms_tag in _SUFFIX_PAIRS:
                m = re.fullmatch(rf"(?P<stem>.+){_SEP}(?P<tag>{pan_tag})", p.stem, flags=re.I)
                if not m:
                    continue
                for q in files:
                    mq = re.fullmatch(rf"{re.escape(m['stem'])}(?P<sep>{_SEP})({ms_tag})", q.stem, flags=re.I)
                    if mq and q not in found:
                        found[q] = (m["stem"], p, q)
        if folder.name.upper().endswith("_PAN"):
            mul = folder.with_name(folder.name[:-4] + "_MUL")
            if mul.is_dir() and len(files) == 1 and len(_tiffs(mul)) == 1:
                found[_tiffs(mul)[0]] = (folder.name[:-4], files[0], _tiffs(mul)[0])
    return sorted(found.values(), key=lambda t: (t[0], str(t[1])))


def read_product_list(path: "str | Path") -> list[dict[str, str]]:
    """Rows of a CSV product list (header with ``pan``, ``ms``, optional ``out`` and ``name``)."""
    path = Path(path)
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataFormatError(f"{path}: cannot read the product list ({exc}); give a CSV with columns pan,ms,out") from None
    if not rows or not {"pan", "ms"} <= {k.strip().lower() for k in rows[0] if k}:
        raise DataFormatError(f"{path}: a product list needs a header with the columns pan,ms (and optionally out, name)")
    return [{k.strip().lower(): (v or "").strip() for k, v in row.items() if k} for row in rows]


def batch_items(source: "str | Path", out_dir: "str | Path | None") -> list[BatchItem]:
    """The products of a CSV list or a folder, with their output paths."""
    source = Path(source)
    out_dir = Path(out_dir) if out_dir is not None else None
    items: list[BatchItem] = []
    if source.is_file():
        base = source.parent
        for i, row in enumerate(read_product_list(source), start=2):
            if not row.get("pan") or not row.get("ms"):
                raise DataFormatError(f"{source}, line {i}: pan and ms are both needed")
            pan, ms = base / row["pan"], base / row["ms"]
            name = row.get("name") or Path(row["ms"]).stem
            if row.get("out"):
                out = base / row["out"]
            elif out_dir is not None:
                out = out_dir / f"{name}.tif"
            else:
                raise DataFormatError(f"{source}, line {i}: no out column; give it or --out-dir FOLDER")
            items.append(BatchItem(name, pan, ms, out))
    else:
        if out_dir is None:
            raise DataFormatError("--batch with a folder needs --out-dir FOLDER for the fused products")
        items = [BatchItem(name, pan, ms, out_dir / f"{name}.tif") for name, pan, ms in find_products(source)]
        if not items:
            raise DataFormatError(
                f"{source}: no products found (pan.tif + ms.tif in a folder, NAME_PAN.tif + NAME_MS.tif, or "
                "Maxar ..._PAN/ + ..._MUL/ folders); list them in a CSV (pan,ms,out) instead"
            )
    outs = [it.out.resolve() for it in items]
    if len(set(outs)) != len(outs):
        raise DataFormatError("several products would write the same output; give distinct out paths or names")
    return items


def _fuse_one(item: BatchItem, options: dict[str, Any]) -> BatchResult:
    start = time.perf_counter()
    try:
        item.out.parent.mkdir(parents=True, exist_ok=True)
        fuse(item.pan, item.ms, item.out, **options)
    except (PanSharpenError, OSError, ValueError, RuntimeError) as exc:
        return BatchResult(item, False, time.perf_counter() - start, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return BatchResult(item, True, time.perf_counter() - start)


def fuse_batch(items: Iterable[BatchItem], *, workers: int | None = None, scheduler: str | None = None,
               progress=None, **options: Any) -> list[BatchResult]:
    """Fuse every product with ``options`` (those of :func:`pansharpen.fusion.fuse.fuse`);
    one failure does not stop the others. ``progress(result)`` is called after each product."""
    items = list(items)
    options = {**options, "quiet": True}
    if workers or scheduler:
        results = map_on_dask(_fuse_one, items, options, workers=workers, scheduler=scheduler)
    else:
        results = (_fuse_one(item, options) for item in items)
    done = []
    for result in results:
        done.append(result)
        if progress is not None:
            progress(result)
    by_out = {str(r.item.out): r for r in done}  # Dask returns them as they complete
    return [by_out[str(it.out)] for it in items]


def summary_table(results: list[BatchResult]) -> str:
    """Plain-text table: product, status, seconds, output or error; then the totals."""
    rows = [("product", "status", "time", "output / error")]
    for r in results:
        rows.append((r.item.name, "ok" if r.ok else "FAILED", f"{r.seconds:.1f} s", str(r.item.out) if r.ok else r.error))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)).rstrip() for row in rows]
    failed = sum(not r.ok for r in results)
    lines.append(f"{len(results) - failed} of {len(results)} products fused" + (f", {failed} failed" if failed else ""))
    return "\n".join(lines)
