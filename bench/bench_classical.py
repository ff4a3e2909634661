"""Speed of the classical methods on a large real scene, with GDAL's weighted Brovey as baseline.

Each method fuses the dgsamples WorldView-3 product (PAN 3340 x 3340, 8-band MS 835 x 835) whole
(``estimate`` + ``apply``, float64), and GDAL's pansharpened VRT (``WeightedBrovey``, cubic,
uint16 output) is read through rasterio in the same run. Throughput is in output megapixels
(PAN-grid pixels, all bands) per second.

Usage::

    python bench/bench_classical.py [--crop 2048] [--threads 2] [--methods gsa mtf-glp-hpm ...]

Figures depend on the machine and its load: compare only within one run.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def gdal_brovey_vrt(pan_path: Path, ms_path: Path, nbands: int, threads: int) -> str:
    """The XML of a GDAL pansharpened VRT (weighted Brovey, weights 1/N, cubic resampling)."""
    weights = ",".join([f"{1.0 / nbands:.10f}"] * nbands)
    spectral = "\n".join(
        f"""    <SpectralBand dstBand="{b}">
      <SourceFilename relativeToVRT="0">{ms_path}</SourceFilename>
      <SourceBand>{b}</SourceBand>
    </SpectralBand>"""
        for b in range(1, nbands + 1)
    )
    return f"""<VRTDataset subClass="VRTPansharpenedDataset">
  <PansharpeningOptions>
    <Algorithm>WeightedBrovey</Algorithm>
    <AlgorithmOptions><Weights>{weights}</Weights></AlgorithmOptions>
    <Resampling>Cubic</Resampling>
    <NumThreads>{threads}</NumThreads>
    <PanchroBand>
      <SourceFilename relativeToVRT="0">{pan_path}</SourceFilename>
      <SourceBand>1</SourceBand>
    </PanchroBand>
{spectral}
  </PansharpeningOptions>
</VRTDataset>
"""


def crop_files(pan_path: Path, ms_path: Path, pan_size: int, folder: Path) -> tuple[Path, Path]:
    """Write a top-left crop (PAN ``pan_size``, MS ``pan_size/4``) to temporary GeoTIFFs (deleted after)."""
    import rasterio
    from rasterio.windows import Window

    out = []
    for path, size in ((pan_path, pan_size), (ms_path, pan_size // 4)):
        with rasterio.open(path) as src:
            win = Window(0, 0, size, size)
            profile = src.profile | {"width": size, "height": size, "transform": src.window_transform(win)}
            dst_path = folder / f"crop_{path.name}"
            with rasterio.open(dst_path, "w", **profile) as dst:
                dst.write(src.read(window=win))
        out.append(dst_path)
    return out[0], out[1]


def time_gdal(pan_path: Path, ms_path: Path, nbands: int, threads: int, folder: Path) -> tuple[float, np.ndarray]:
    import rasterio

    vrt = folder / "brovey.vrt"
    vrt.write_text(gdal_brovey_vrt(pan_path, ms_path, nbands, threads))
    t0 = time.perf_counter()
    with rasterio.open(vrt) as src:
        data = src.read()
    return time.perf_counter() - t0, data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crop", type=int, default=0, help="PAN crop size (0 = the full 3340 x 3340 scene)")
    ap.add_argument("--threads", type=int, default=2, help="threads for torch/scipy FFTs and GDAL")
    ap.add_argument("--methods", nargs="+", default=None)
    ap.add_argument("--repeat", type=int, default=1, help="runs per method (the best is reported)")
    args = ap.parse_args()

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import rasterio
    import torch

    from pansharpen.classical import get_method, list_methods
    from pansharpen.io.samples import sample_product
    from pansharpen.protocol import get_sensor

    torch.set_num_threads(args.threads)
    methods = args.methods or list_methods()
    sensor = get_sensor("WV3")
    pan_path, ms_path = sample_product("WV3")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.crop:
            pan_path, ms_path = crop_files(pan_path, ms_path, args.crop, folder)
        with rasterio.open(pan_path) as src:
            pan = src.read().astype(np.float64)
        with rasterio.open(ms_path) as src:
            ms = src.read().astype(np.float64)
        mp = pan.shape[1] * pan.shape[2] / 1e6
        print(f"WV3 dgsamples scene: PAN {pan.shape[1]}x{pan.shape[2]} ({mp:.2f} MP), MS {ms.shape}, "
              f"threads {args.threads}, cpus {os.cpu_count()}")
        gdal_s = min(time_gdal(pan_path, ms_path, ms.shape[0], args.threads, folder)[0] for _ in range(args.repeat))
        _, gdal_out = time_gdal(pan_path, ms_path, ms.shape[0], args.threads, folder)
        gdal_rate = mp / gdal_s
        print(f"{'gdal-brovey (VRT)':<18} {gdal_s:8.2f} s {gdal_rate:8.2f} MP/s  ratio 1.00")
        for name in methods:
            method = get_method(name)
            best = np.inf
            try:
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    fused = method(ms, pan, sensor, 4)
                    best = min(best, time.perf_counter() - t0)
            except Exception as exc:  # report and go on with the other methods
                print(f"{name:<18} failed: {exc}", flush=True)
                continue
            rate = mp / best
            line = f"{name:<18} {best:8.2f} s {rate:8.2f} MP/s  ratio {rate / gdal_rate:.2f} (vs GDAL per MP)"
            if name == "brovey":
                inner = (slice(None), slice(16, -16), slice(16, -16))
                ours = np.clip(np.round(fused), 0, 65535)[inner]  # uint16 output (no NBITS on the PAN)
                diff = np.abs(ours - gdal_out[inner].astype(np.float64))
                line += f"; vs GDAL output: mean |diff| {diff.mean():.3f} DN, 99.9% {np.quantile(diff, 0.999):.1f} DN"
            print(line, flush=True)
            del fused


if __name__ == "__main__":
    main()
