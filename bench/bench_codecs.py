"""Time and size of each output codec of the GeoTIFF writer (``fuse --compress``).

Reads a fused scene (by default: fuses the dgsamples WorldView-3 scene with EXP first), then
writes it with :class:`pansharpen.io.geotiff.GeoTiffWriter` tile by tile, as ``fuse`` does
(256 x 256 tiles, predictor, ``NUM_THREADS=ALL_CPUS``; ZSTD at ``ZSTD_LEVEL``, and once more at
GDAL's default level 9, ``zstd-9``), once per codec, and prints wall time,
CPU time and size, each as a ratio against DEFLATE measured in the same run. ``--overviews``
also builds the internal overviews (the ``fuse`` default).

    python bench/bench_codecs.py [--input FUSED.tif] [--repeat 2] [--overviews]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio

from pansharpen.io.atomic import atomic_path
from pansharpen.io.geotiff import COMPRESSIONS, GeoTiffWriter, WriteOptions, output_profile
from pansharpen.io.windows import Window


def _scene(path: str | None, workdir: Path) -> Path:
    if path:
        return Path(path)
    from pansharpen.fusion.fuse import fuse
    from pansharpen.io.samples import sample_product

    pan, ms = sample_product("WV3")
    out = workdir / "exp.tif"
    fuse(pan, ms, out, method="exp", sensor="WV3", options=WriteOptions(compress="none", overviews=False))
    return out


def _write(data: np.ndarray, src, out: Path, options: WriteOptions) -> tuple[float, float]:
    profile = output_profile(src.width, src.height, src.count, src.dtypes[0], crs=src.crs, transform=src.transform,
                             nodata=src.nodata, options=options)
    wall, cpu = time.perf_counter(), time.process_time()
    with atomic_path(out, overwrite=True) as tmp, GeoTiffWriter(tmp, profile, options) as writer:
        for r0 in range(0, src.height, 512):  # as fuse writes: one 512-row band of tiles at a time
            for c0 in range(0, src.width, 512):
                r1, c1 = min(r0 + 512, src.height), min(c0 + 512, src.width)
                writer.write(data[:, r0:r1, c0:c1], window=Window(r0, r1, c0, c1))
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", help="a fused GeoTIFF (default: EXP of the dgsamples WV3 scene)")
    parser.add_argument("--repeat", type=int, default=2, help="best of N writes per codec")
    parser.add_argument("--overviews", action="store_true", help="also build internal overviews")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        workdir = Path(tmp)
        scene = _scene(args.input, workdir)
        with rasterio.open(scene) as src:
            data = src.read()
            print(f"scene {scene.name}: {src.count} x {src.height} x {src.width} {src.dtypes[0]}, "
                  f"raw {data.nbytes / 1e6:.1f} MB; overviews {'on' if args.overviews else 'off'}")
            rows = {}
            # each codec as `fuse --compress` writes it, and ZSTD at GDAL's default level for comparison
            cases = [(codec, codec, {}) for codec in COMPRESSIONS] + [("zstd-9", "zstd", {"ZSTD_LEVEL": "9"})]
            for label, codec, co in cases:
                out = workdir / f"{label}.tif"
                options = WriteOptions(compress=codec, overviews=args.overviews, creation_options=co)
                best = min((_write(data, src, out, options) for _ in range(args.repeat)), key=lambda t: t[0])
                with rasterio.open(out) as check:
                    assert np.array_equal(check.read(), data), f"{label} did not round-trip"
                rows[label] = (*best, out.stat().st_size / 1e6)
    base = rows["deflate"]
    print(f"{'codec':8} {'wall s':>8} {'cpu s':>8} {'MB':>8} {'wall/deflate':>13} {'size/deflate':>13}")
    for codec, (wall, cpu, size) in rows.items():
        print(f"{codec:8} {wall:8.2f} {cpu:8.2f} {size:8.1f} {wall / base[0]:13.2f} {size / base[2]:13.2f}")


if __name__ == "__main__":
    main()
