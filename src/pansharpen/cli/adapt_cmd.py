"""``pansharpen adapt``: adapt a network to a product at full resolution, without ground truth."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..training.adapt_defaults import CONSISTENT, INJECTION, QNR_WEIGHT, SCALE_WEIGHT, SPATIAL_WEIGHT
from .app import app
from .fuse_cmd import BITS_OPTION, MTF_MS_OPTION, MTF_PAN_OPTION, parse_gains


@app.command("adapt")
def adapt_command(
    pan: Path = typer.Argument(..., help="Panchromatic raster of the product."),
    ms: Path = typer.Argument(..., help="Multispectral raster of the same product."),
    out: Path = typer.Argument(..., help="Weights file to write (.safetensors, with a card)."),
    model: Optional[str] = typer.Option(
        None, "--model", help="Bundled weights (lightnet-wv3) or an architecture to start fresh (detail-net, "
        "lightnet, lgpconv-net). Default: the bundled model for the sensor, else a fresh detail-net."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Start from this weights file."),
    minutes: Optional[float] = typer.Option(None, "--minutes", help="Time budget (default 3 unless --iterations)."),
    iterations: Optional[int] = typer.Option(None, "--iterations", help="Optimiser steps (with --minutes: whichever ends first)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    sensor: Optional[str] = typer.Option(None, "--sensor", help="Sensor for the MTF (default: from the product's IMD)."),
    mtf_ms: Optional[str] = MTF_MS_OPTION,
    mtf_pan: Optional[float] = MTF_PAN_OPTION,
    bits: Optional[int] = BITS_OPTION,
    spectral_weight: float = typer.Option(1.0, "--spectral-weight", help="Weight of the spectral-consistency term."),
    spatial_weight: Optional[float] = typer.Option(
        None, "--spatial-weight", help=f"Weight of the local-correlation term (default {SPATIAL_WEIGHT}, docs/adaptation.md)."),
    qnr_weight: Optional[float] = typer.Option(
        None, "--qnr-weight", help=f"Weight of the QNR spatial term (D_s on 32-pixel blocks; default {QNR_WEIGHT}, docs/adaptation.md)."),
    scale_weight: Optional[float] = typer.Option(
        None, "--scale-weight", help=f"Weight of the cross-scale term (the Wald-degraded product must fuse back into its "
        f"MS; default {SCALE_WEIGHT}, docs/adaptation.md)."),
    target: str = typer.Option("ms", "--target", help="Spatial target: 'ms' (reach the MS/PAN correlation at MS scale), 'match' (equal it, from both sides) or 'one'."),
    injection: str = typer.Option(
        INJECTION, "--injection", help="A fresh detail-net's start: 'hpm' (MTF-GLP-HPM), 'hpm-h' (MTF-GLP-HPM-H, haze "
        "of the product), 'fs' (MTF-GLP-FS, gains regressed on the product), 'auto' (HPM or FS, the better HQNR on "
        "training windows), 'blend-hpm' / 'blend-hpm-h' / 'blend-fs' (that start averaged with a global BDSD "
        "regressed on the Wald-degraded product) or 'blend' (the blend of auto's choice); docs/adaptation.md."),
    consistent: str = typer.Option(
        CONSISTENT, "--consistent", help="Whether a fresh detail-net ends with the spectral-consistency projection "
        "(its output, degraded by the sensor's MTF, gives the MS back): 'on', 'off' or 'auto' (the better HQNR of the "
        "start on training windows; the projection trusts the sensor's MTF model; docs/adaptation.md)."),
    patch: int = typer.Option(32, "--patch", help="Training patch side in MS pixels."),
    patches: int = typer.Option(48, "--patches", help="Training patches cut from the product."),
    batch_size: int = typer.Option(8, "--batch-size", help="Patches per optimiser step."),
    eval_size: int = typer.Option(64, "--eval-size", help="Side of the held-out windows (MS pixels)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Adam learning rate (default 3e-3 fresh, 2e-4 from weights)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the fresh weights, the patch draw and the batch order."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads (default: torch's choice)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
) -> None:
    """Fine-tune a network on PAN + MS at full resolution (unsupervised loss) and write OUT.

    The weights are kept only if they beat the start on a held-out part of the product
    (docs/adaptation.md); otherwise the starting weights are written and you are told.
    """
    import torch  # network side: imported by the command, not by `pansharpen --help`

    from ..training.adapt_full import adapt_full_resolution  # network side, as above

    if threads:
        torch.set_num_threads(threads)
    res = adapt_full_resolution(
        pan, ms, out, model=model, weights=weights, minutes=minutes, iterations=iterations, sensor=sensor,
        mtf_ms=parse_gains(mtf_ms), mtf_pan=mtf_pan, bits=bits, device=device, patch=patch, patches=patches, batch_size=batch_size, eval_size=eval_size, lr=lr,
        spectral_weight=spectral_weight, spatial_weight=SPATIAL_WEIGHT if spatial_weight is None else spatial_weight,
        qnr_weight=QNR_WEIGHT if qnr_weight is None else qnr_weight,
        scale_weight=SCALE_WEIGHT if scale_weight is None else scale_weight,
        target=target, injection=injection, consistent=consistent, seed=seed, overwrite=overwrite,
    )
    chosen = res.record.get("start_injection")
    projection = getattr(res.model, "consistent", None)
    start = res.origin
    if chosen:
        start += f" ({chosen['injection']} injection" + (
            "" if projection is None else f", consistency projection {'on' if projection else 'off'}") + ")"
    typer.echo(f"start: {start}; {res.iterations} iterations in {res.seconds:.0f} s on "
               f"{res.record['optimiser']['patches']} patches; held-out windows {res.record['held_out']['windows']}")
    typer.echo(res.table())
    if res.kept == "start":
        typer.echo(f"adapting did not beat the start on the held-out windows ({res.record['criterion']}): "
                   "kept the starting weights")
    typer.echo(f"wrote {res.out} ({res.kept} weights)")
