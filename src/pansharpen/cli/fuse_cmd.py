"""``pansharpen fuse`` and ``pansharpen demo``."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app


@app.command("fuse")
def fuse_command(
    pan: Path = typer.Argument(..., help="Panchromatic raster (GeoTIFF or anything rasterio opens)."),
    ms: Path = typer.Argument(..., help="Multispectral raster of the same product."),
    out: Path = typer.Argument(..., help="Output GeoTIFF (on the PAN grid)."),
    model: Optional[str] = typer.Option(None, "--model", help="Bundled model name (see `pansharpen models`)."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="A pansharpen .safetensors weights file."),
    method: Optional[str] = typer.Option(None, "--method", help="Classical method (see `pansharpen methods`)."),
    sensor: Optional[str] = typer.Option(
        None, "--sensor",
        help="Sensor (WV3, QB, Pleiades, SPOT7, L8, ... see `pansharpen sensors`; 'none': toolbox defaults). "
        "Default: from the product's metadata (.IMD/.XML, DIM_*.XML, *_MTL.txt, GeoTIFF tags), else the model card.",
    ),
    mtf_ms: Optional[str] = typer.Option(
        None, "--mtf-ms", help="MS MTF gain at Nyquist: one value, or one per band separated by commas (0.3 or "
        "0.34,0.32,0.30,0.22); overrides the sensor's or describes another sensor."),
    mtf_pan: Optional[float] = typer.Option(None, "--mtf-pan", help="PAN MTF gain at the MS Nyquist frequency (e.g. 0.15)."),
    bits: Optional[int] = typer.Option(None, "--bits", help="Significant bits of the data (output clipped to 2^bits - 1)."),
    tile: int = typer.Option(512, "--tile", help="Tile side in PAN pixels (memory grows with it)."),
    cog: bool = typer.Option(False, "--cog", help="Write a Cloud-Optimised GeoTIFF."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="Output data type (default: the MS data type)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Run tiles on a local Dask cluster with N workers."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Address of a running Dask scheduler."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Fuse a PAN + MS product into a georeferenced, full-resolution GeoTIFF."""
    from ..errors import PanSharpenError
    from ..fusion.fuse import fuse

    if workers is not None and scheduler is not None:
        raise PanSharpenError("give either --workers or --scheduler, not both")
    path = fuse(
        pan, ms, out, model=model, method=method, weights=weights, sensor=sensor, mtf_ms=parse_gains(mtf_ms),
        mtf_pan=mtf_pan, bits=bits, tile=tile, dtype=dtype,
        cog=cog, overwrite=overwrite, workers=workers, scheduler=scheduler, quiet=quiet,
    )
    typer.echo(f"wrote {path}")


def parse_gains(text: Optional[str]) -> Optional[tuple[float, ...]]:
    """``--mtf-ms`` text (``"0.3"`` or ``"0.34,0.32,0.30,0.22"``) as gains; a one-line error otherwise."""
    from ..errors import SensorError

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
    from ..fusion.demo import run_demo

    report = run_demo(out, model=model, method=method, size=size, quiet=quiet)
    typer.echo((out / "report.md").read_text())
    typer.echo(f"quick-look: {out / 'quicklook.png'}; fused product: {report['output']}")
