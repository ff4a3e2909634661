"""``pansharpen fuse`` and ``pansharpen demo``."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import PanSharpenError, SensorError
from ..fusion.batch import batch_items, fuse_batch, summary_table
from ..fusion.demo import run_demo
from ..fusion.fuse import fuse
from ..fusion.fusers import resolve_device
from ..io.geotiff import DEFAULT_COMPRESS, WriteOptions, parse_creation_options
from .app import app


#: the sensor facts of a product outside the catalogue, shared by fuse, adapt and evaluate
#: (read through :func:`pansharpen.protocol.policy.resolve_sensor`; ``--mtf-ms`` via :func:`parse_gains`)
MTF_MS_OPTION = typer.Option(
    None, "--mtf-ms", help="MS MTF gain at Nyquist: one value, or one per band separated by commas (0.3 or "
    "0.34,0.32,0.30,0.22); overrides the sensor's or describes another sensor.")
MTF_PAN_OPTION = typer.Option(None, "--mtf-pan", help="PAN MTF gain at the MS Nyquist frequency (e.g. 0.15).")
BITS_OPTION = typer.Option(None, "--bits", help="Significant bits of the data (fused values clipped to 2^bits - 1).")


@app.command("fuse")
def fuse_command(
    pan: Optional[Path] = typer.Argument(None, help="Panchromatic raster (GeoTIFF or anything rasterio opens)."),
    ms: Optional[Path] = typer.Argument(None, help="Multispectral raster of the same product."),
    out: Optional[Path] = typer.Argument(None, help="Output GeoTIFF (on the PAN grid)."),
    model: Optional[str] = typer.Option(None, "--model", help="Bundled model name (see `pansharpen models`)."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="A pansharpen .safetensors weights file."),
    method: Optional[str] = typer.Option(None, "--method", help="Classical method (see `pansharpen methods`)."),
    sensor: Optional[str] = typer.Option(
        None, "--sensor",
        help="Sensor (WV3, QB, Pleiades, SPOT7, L8, ... see `pansharpen sensors`; 'none': toolbox defaults). "
        "Default: from the product's metadata (.IMD/.XML, DIM_*.XML, *_MTL.txt, GeoTIFF tags), else the model card.",
    ),
    mtf_ms: Optional[str] = MTF_MS_OPTION,
    mtf_pan: Optional[float] = MTF_PAN_OPTION,
    bits: Optional[int] = BITS_OPTION,
    tile: int = typer.Option(512, "--tile", help="Tile side in PAN pixels (memory grows with it)."),
    cog: bool = typer.Option(False, "--cog", help="Write a Cloud-Optimised GeoTIFF (same codec and predictor)."),
    compress: Optional[str] = typer.Option(
        None, "--compress", help="Codec: deflate, zstd, lzw or none (default: the measured choice in docs/performance.md)."),
    co: Optional[list[str]] = typer.Option(None, "--co", help="GDAL creation option KEY=VALUE (repeatable, as gdal -co)."),
    no_overviews: bool = typer.Option(False, "--no-overviews", help="Do not build internal overviews."),
    device: str = typer.Option("cpu", "--device", help="Networks: cpu, cuda or auto (CUDA when available)."),
    dtype: Optional[str] = typer.Option(
        None, "--dtype",
        help="Output data type (default: the MS data type); an integer type too narrow for the data gets the values "
        "scaled into it, the factor recorded as the band scale.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Run tiles (with --batch: products) on a local Dask cluster with N workers."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Address of a running Dask scheduler."),
    batch: Optional[Path] = typer.Option(
        None, "--batch", help="Fuse many products: a CSV (pan,ms[,out][,name]) or a folder searched by file names "
        "(pan.tif + ms.tif per folder, NAME_PAN.tif + NAME_MS.tif, Maxar _PAN/ + _MUL/); see docs/fusion.md."),
    out_dir: Optional[Path] = typer.Option(None, "--out-dir", help="With --batch: folder for the fused products."),
    threads_per_worker: Optional[int] = typer.Option(
        None, "--threads-per-worker", help="Torch threads of each Dask worker (default: cores / workers)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    adapt: Optional[float] = typer.Option(
        None, "--adapt", help="First adapt the network to this product for MINUTES at full resolution "
        "(weights kept as OUT.weights.safetensors; docs/adaptation.md)."),
    no_range_check: bool = typer.Option(
        False, "--no-range-check", help="Fuse reflectance / [0, 1] inputs as they are (refused by default)."
    ),
    consistent: bool = typer.Option(
        False, "--consistent", help="With --method: project the result onto the images that give the MS back through "
        "the sensor's MTF and decimation (Wald's consistency; trusts the sensor's MTF model; costs about 2.6x the time: "
        "docs/fusion.md)."),
) -> None:
    """Fuse a PAN + MS product into a georeferenced, full-resolution GeoTIFF (or many with --batch)."""

    if workers is not None and scheduler is not None:
        raise PanSharpenError("give either --workers or --scheduler, not both")
    options = WriteOptions(compress=compress or DEFAULT_COMPRESS, overviews=not no_overviews, cog=cog,
                           creation_options=parse_creation_options(co or []))
    common = dict(model=model, method=method, weights=weights, sensor=sensor, mtf_ms=parse_gains(mtf_ms),
                  mtf_pan=mtf_pan, bits=bits, tile=tile, dtype=dtype, overwrite=overwrite, device=device,
                  options=options, check_range=not no_range_check, consistent=consistent)
    if batch is not None:
        if pan is not None or ms is not None or out is not None:
            raise PanSharpenError("with --batch give no PAN MS OUT arguments; the products come from the list or folder")
        resolve_device(device)
        items = batch_items(batch, out_dir)
        if not quiet:
            typer.echo(f"fusing {len(items)} products", err=True)
        report = (lambda r: typer.echo(f"{'ok    ' if r.ok else 'FAILED'} {r.item.name}", err=True)) if not quiet else None
        results = fuse_batch(items, workers=workers, scheduler=scheduler, progress=report, **common)
        typer.echo(summary_table(results))
        if not all(r.ok for r in results):
            raise typer.Exit(1)
        return
    if pan is None or ms is None or out is None:
        raise PanSharpenError("give PAN MS OUT (or --batch LIST.csv|DIR --out-dir FOLDER)")
    if out_dir is not None:
        raise PanSharpenError("--out-dir goes with --batch; for one product give OUT")
    if adapt is not None:
        if method is not None or consistent:
            raise PanSharpenError("--adapt trains a network; it does not apply to --method or --consistent "
                                  "(`pansharpen adapt --consistent` sets the adapted network's own projection)")
        from ..training.adapt_full import adapt_and_fuse  # network side: imports torch (a --method fusion never does)

        fuse_options = {k: v for k, v in common.items()
                        if k not in ("model", "method", "weights", "sensor", "overwrite", "consistent")}
        path, res = adapt_and_fuse(pan, ms, out, adapt, model=model, weights=weights, sensor=sensor, overwrite=overwrite,
                                   quiet=quiet, fuse_options=dict(fuse_options, cog=cog, workers=workers, scheduler=scheduler,
                                                                  threads_per_worker=threads_per_worker))
        typer.echo(res.table())
        typer.echo(f"weights: {res.out} ({res.kept}); wrote {path}")
        return
    path = fuse(pan, ms, out, cog=cog, workers=workers, scheduler=scheduler, quiet=quiet,
                threads_per_worker=threads_per_worker, **common)
    typer.echo(f"wrote {path}")


def parse_gains(text: Optional[str]) -> Optional[tuple[float, ...]]:
    """``--mtf-ms`` text (``"0.3"`` or ``"0.34,0.32,0.30,0.22"``) as gains; a one-line error otherwise."""
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise SensorError(f"--mtf-ms {text!r}: give numbers in (0, 1), one or one per band, separated by commas") from None


@app.command("demo")
def demo_command(
    out: Path = typer.Option(Path("pansharpen-demo"), "--out", help="Folder for the fused GeoTIFF, quick-look and report."),
    model: Optional[str] = typer.Option(None, "--model", help="Bundled model (default: the one for WV3)."),
    method: Optional[str] = typer.Option(None, "--method", help="Use a classical method instead."),
    size: Optional[int] = typer.Option(None, "--size", help="Fuse only the top-left SIZE x SIZE PAN pixels (quick run)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Fuse the embedded WorldView-3 sample product and write a quick-look and a quality report."""
    report = run_demo(out, model=model, method=method, size=size, quiet=quiet)
    typer.echo((out / "report.md").read_text())
    typer.echo(f"quick-look: {out / 'quicklook.png'}; fused product: {report['output']}")
