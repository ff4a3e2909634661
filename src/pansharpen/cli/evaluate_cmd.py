"""``pansharpen evaluate``: quality indices at reduced or full resolution."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..errors import ShapeError
from ..evaluation.evaluate import evaluate_full, evaluate_reduced
from .app import app
from .fuse_cmd import BITS_OPTION, MTF_MS_OPTION, MTF_PAN_OPTION, parse_gains

_HELP = """Quality indices of fused images, in digital numbers.

Reduced resolution (against a reference, Wald protocol):
  pansharpen evaluate --reference REF --fused FUSED [--ratio 4] [--sensor WV3] [--crop 0]
gives Q2n, Q, SAM, ERGAS, SCC.

Full resolution (no reference; against the MS and PAN the image was fused from):
  pansharpen evaluate --ms MS --pan PAN --fused FUSED [--sensor WV3] [--ratio 4]
gives D_lambda, D_s, QNR, D_lambda_K, HQNR. On what `pansharpen fuse` wrote it needs no other
option: the sensor is the one fuse recorded (else the product metadata), sizes are cut to whole
32-pixel blocks (noted under the table), and a GeoTIFF scene is streamed in row strips
(bounded memory, progress bar unless --quiet or --json).

\b
Files:
  GeoTIFF (.tif)   bands x rows x cols, one image (MS+PAN GeoTIFFs: their grids are checked
                   and the overlap is used)
  .npy             rows x cols x bands (one image) or N x rows x cols x bands
  .h5 / .mat       PanCollection file (v5 or v7.3 .mat): every image in it.
                   --reference uses its gt; --fused its sr, fused or output (first present,
                   else its only array that is not gt/ms/lms/pan);
                   --ms its ms (and lms, when present, as the upsampled MS);
                   --pan its pan (so --ms test.h5 --pan test.h5 works).
                   FILE.h5:KEY picks a key explicitly.
  a folder         one image per file (any of the above), in natural name order
                   (out_2 before out_10), e.g. --fused results/ against --reference test.h5.

Several images: one line each, then mean ± std (N-1). --json prints one JSON object with
exactly the index keys (a list for several images); --out-json and --csv also record the
protocol, sensor, ratio, crop and input files with the numbers.
"""


@app.command("evaluate", help=_HELP)
def evaluate_command(
    reference: Optional[Path] = typer.Option(None, "--reference", "-r", help="Reference (ground truth) for reduced resolution."),
    fused: Path = typer.Option(..., "--fused", "-f", help="Fused image(s) to evaluate."),
    ms: Optional[Path] = typer.Option(None, "--ms", help="Low-resolution MS for full resolution."),
    pan: Optional[Path] = typer.Option(None, "--pan", help="PAN for full resolution."),
    ratio: Optional[int] = typer.Option(
        None, "--ratio", help="PAN/MS resolution ratio (default: from the pixel sizes of GeoTIFFs, else 4)."),
    sensor: Optional[str] = typer.Option(
        None, "--sensor", "-s",
        help="Sensor (WV3, QB, Pleiades, L8, ... see `pansharpen sensors`, or 'none'): MTF gains at full resolution; "
        "at reduced resolution only used to rescale images normalised to [0, 1]. Full resolution default: as for "
        "`fuse`, from the product's metadata or the file's recorded sensor, else 'none' (with a warning).",
    ),
    mtf_ms: Optional[str] = MTF_MS_OPTION,  # full resolution only, as --mtf-pan and --bits
    mtf_pan: Optional[float] = MTF_PAN_OPTION,
    bits: Optional[int] = BITS_OPTION,
    crop: int = typer.Option(0, "--crop", help="Reduced resolution border cut dim_cut (toolbox demos: 21 or 30)."),
    max_value: Optional[float] = typer.Option(None, "--max-value", help="DN maximum to rescale [0, 1] images (e.g. 2047)."),
    crop_to_blocks: bool = typer.Option(
        True, "--crop-to-blocks/--exact-blocks",
        help="Full resolution: sizes that are not multiples of 32 are cut to the top-left whole 32 x 32 blocks "
        "(noted with the numbers); --exact-blocks stops with an error instead, as the reference does.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar (also off with --json)."),
    as_json: bool = typer.Option(False, "--json", help="Print the indices as JSON instead of a table."),
    csv_out: Optional[Path] = typer.Option(None, "--csv", help="Also write the indices and settings as CSV."),
    json_out: Optional[Path] = typer.Option(None, "--out-json", help="Also write indices, mean/std and provenance as JSON."),
) -> None:

    full = ms is not None or pan is not None
    if full and reference is not None:
        raise ShapeError("give either --reference (reduced resolution) or --ms and --pan (full resolution), not both")
    if full:
        if ms is None or pan is None:
            raise ShapeError("full resolution needs both --ms and --pan (they may be the same PanCollection file)")
        if crop:
            raise ShapeError("--crop applies to reduced resolution only; the toolbox computes full-resolution indices on the whole image")
        result = evaluate_full(ms, pan, fused, sensor=sensor, ratio=ratio, crop_to_blocks=crop_to_blocks,
                               max_value=max_value, mtf_ms=parse_gains(mtf_ms), mtf_pan=mtf_pan, bits=bits,
                               quiet=quiet or as_json)
    elif reference is not None:
        result = evaluate_reduced(reference, fused, ratio=4 if ratio is None else ratio, sensor=sensor, crop=crop, max_value=max_value)
    else:
        raise ShapeError("give --reference REF (reduced resolution) or --ms MS --pan PAN (full resolution)")

    if json_out is not None:
        result.write_json(json_out)
    if csv_out is not None:
        result.write_csv(csv_out)
    if as_json:
        typer.echo(json.dumps(result.stdout_json()))
    else:
        typer.echo(result.table())
