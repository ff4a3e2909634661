"""Quality table of the classical methods on the dgsamples WorldView-3 and WorldView-2 products.

Reduced resolution (Wald protocol): a block of the MS is the reference; the MS is degraded with
the sensor MTF and decimated by 4, the PAN block is reduced by 4 (``wald_degrade``); every method
fuses the degraded pair and is scored with Q2n, Q, SAM, ERGAS, SCC (no border cut).
Full resolution: the methods fuse a real-scale block and are scored with HQNR (when
``pansharpen.metrics.full`` is available).

Usage::

    python bench/table_classical.py [--size 512] [--fr-size 512] [--sensors WV3 WV2] [--markdown]

Needs the ``dgsamples`` package (the imagery is read in place, never copied).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import rasterio
from rasterio.windows import Window

from pansharpen.classical import get_method, list_methods
from pansharpen.io.samples import sample_product
from pansharpen.protocol import get_sensor


def read_block(sensor: str, ms_size: int, ms_row: int | None = None, ms_col: int | None = None):
    """A co-registered (MS ``(8, s, s)``, PAN ``(1, 4s, 4s)``) block, float64 DN, centred by default."""
    pan_path, ms_path = sample_product(sensor)
    with rasterio.open(ms_path) as src:
        h, w = src.height, src.width
        r0 = (h - ms_size) // 2 if ms_row is None else ms_row
        c0 = (w - ms_size) // 2 if ms_col is None else ms_col
        ms = src.read(window=Window(c0, r0, ms_size, ms_size)).astype(np.float64)
    with rasterio.open(pan_path) as src:
        pan = src.read(1, window=Window(4 * c0, 4 * r0, 4 * ms_size, 4 * ms_size)).astype(np.float64)
    return ms, pan[None]


def degrade(ms: np.ndarray, pan: np.ndarray, sensor, ratio: int = 4):
    """Wald protocol on a real product: ``MS_LR = decimate(MTF(MS))``, ``PAN_LR = imresize(PAN, 1/ratio)``.

    The MS (the reference) is ``(C, s, s)`` and the PAN ``(1, 4s, 4s)``; ``wald_degrade`` wants
    both on one grid, so its two steps are called directly.
    """
    from pansharpen.protocol.mtf import mtf_filter
    from pansharpen.protocol.resize import imresize
    from pansharpen.protocol.wald import decimate

    return np.asarray(decimate(mtf_filter(ms, sensor, ratio), ratio)), np.asarray(imresize(pan, 1 / ratio))


def reduced_table(sensor_name: str, size: int, methods: list[str]) -> list[dict]:
    from pansharpen.metrics.reduced import reduced_resolution_indices

    sensor = get_sensor(sensor_name)
    gt, pan = read_block(sensor_name, size)
    ms_lr, pan_lr = degrade(gt, pan, sensor)
    rows = []
    for name, options in _runs(methods):
        t0 = time.perf_counter()
        fused = np.asarray(get_method(name)(ms_lr, pan_lr, sensor, 4, **options))
        dt = time.perf_counter() - t0
        idx = reduced_resolution_indices(gt, fused, ratio=4)
        rows.append({"method": _label(name, options), **idx, "seconds": dt})
    return rows


def _runs(methods: list[str]) -> list[tuple[str, dict]]:
    """Each method with its defaults, plus Brovey with fitted weights."""
    runs = [(name, {}) for name in methods]
    if "brovey" in methods:
        runs.append(("brovey", {"weights": "fit"}))
    return runs


def _label(name: str, options: dict) -> str:
    return name + "".join(f" ({k}={v})" for k, v in options.items())


def full_table(sensor_name: str, ms_size: int, methods: list[str]) -> list[dict]:
    try:
        from pansharpen.metrics.full import full_resolution_indices
    except ImportError:
        return []
    sensor = get_sensor(sensor_name)
    ms, pan = read_block(sensor_name, ms_size)
    rows = []
    for name, options in _runs(methods):
        fused = np.asarray(get_method(name)(ms, pan, sensor, 4, **options))
        idx = full_resolution_indices(fused, ms, pan, sensor, ratio=4)
        rows.append({"method": _label(name, options), **{k: float(v) for k, v in idx.items() if np.isscalar(v)}})
    return rows


def markdown(rows: list[dict], columns: list[str]) -> str:
    out = ["| method | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for row in rows:
        out.append(f"| {row['method']} | " + " | ".join(f"{row[c]:.4f}" for c in columns) + " |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="reference MS block side (MS pixels), reduced res.")
    ap.add_argument("--fr-size", type=int, default=128, help="MS block side for full resolution (PAN = 4x)")
    ap.add_argument("--sensors", nargs="+", default=["WV3", "WV2"])
    ap.add_argument("--methods", nargs="+", default=list_methods())
    args = ap.parse_args()
    for sensor in args.sensors:
        rr = reduced_table(sensor, args.size, args.methods)
        print(f"\n## {sensor}, reduced resolution: GT = central {args.size}x{args.size} MS block, MS_LR {args.size // 4}^2\n")
        print(markdown(rr, ["Q2n", "Q", "SAM", "ERGAS", "SCC", "seconds"]))
        exp = next(r for r in rr if r["method"] == "exp")
        worse = [r["method"] for r in rr if r["method"] != "exp" and not (r["Q2n"] > exp["Q2n"] and r["ERGAS"] < exp["ERGAS"])]
        # (the pipeline-style ordering check of issue 6: every method but EXP should beat EXP)
        print(f"\nmethods not beating EXP on both Q2n and ERGAS: {worse or 'none'}")
        fr = full_table(sensor, args.fr_size, args.methods) if args.fr_size > 0 else []
        if fr:
            cols = [c for c in fr[0] if c != "method"]
            print(f"\n## {sensor}, full resolution: central {args.fr_size}x{args.fr_size} MS block, PAN {4 * args.fr_size}^2\n")
            print(markdown(fr, cols))


if __name__ == "__main__":
    main()
