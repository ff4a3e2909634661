"""``pansharpen simulate``: PanCollection training/validation/test sets by Wald's protocol."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..datasets.corpus import simulate_corpus
from ..datasets.simulate import simulate
from ..errors import ValueRangeError
from ..io.pancollection import open_pancollection
from .app import app

_HELP = """Build training, validation and test sets from real PAN + MS products (Wald's protocol).

\b
SOURCES: PAN.tif:MS.tif, a folder with one PAN and one MS GeoTIFF, or a sample product
         dgsamples:WV3 / dgsamples:WV2 (pip install dgsamples); or one band family of the
         multi-scene corpus, corpus:wv-8band / corpus:vhr-4band (see below).

\b
corpus:FAMILY builds the scene-split sets of the shared corpus (--data-root, default
$PANSHARPEN_SHARED/data or ../shared/data) and the dgsamples products, as listed with their
split in pansharpen/datasets/corpus.toml: SET_train.h5 (patches of the training scenes),
SET_valid.h5 (the held-out scenes cut into --tile images) and SET_manifest.json (which scene
every sample came from). Each scene is scaled by its own 2**bits - 1 and stored as 11-bit
equivalent DN; --stride defaults to 64 there, --pan-mode picks the PAN degradation
(default imresize: bicubic, the toolbox default and the one that transfers to MTF-degraded PAN;
docs/generalization.md).

gt = MS; ms = MS blurred with the sensor's MTF and decimated by the ratio; pan = PAN reduced
by antialiased bicubic; lms = interp23tap(ms) over each block, then cut into patches.

Split (per product, MS rows from the top): training block | validation strip
(--val-fraction of the rows) | test strip of square --test-block images. Each block is
simulated on its own, so no training patch overlaps or depends on validation/test pixels.

Writes SET_train.h5, SET_valid.h5 and SET_test.h5 next to --out SET.h5 (PanCollection layout:
gt/ms/lms/pan N x C x H x W float64 digital numbers, plus `origin` N x 4 = source, row, col,
transform), each with its provenance (sources with sizes and SHA-256, sensor, ratio, protocol,
patch, stride, seed, split geometry, version) in the root attributes.
"""


@app.command("simulate", help=_HELP)
def simulate_command(
    sources: List[str] = typer.Argument(..., help="PAN.tif:MS.tif, a folder, or dgsamples:WV3 / dgsamples:WV2."),
    out: Path = typer.Option(..., "--out", "-o", help="SET.h5: writes SET_train.h5, SET_valid.h5, SET_test.h5."),
    sensor: Optional[str] = typer.Option(
        None, "--sensor", "-s", help="Sensor MTF for every source (default: the sample's, or from the .IMD beside the MS)."
    ),
    ratio: int = typer.Option(4, "--ratio", help="PAN/MS resolution ratio."),
    patch: int = typer.Option(64, "--patch", help="Patch side in reduced-resolution PAN pixels (gt/lms/pan; ms is patch/ratio)."),
    stride: Optional[int] = typer.Option(None, "--stride", help="Distance between patches (multiple of the ratio; default 32, corpus 64)."),
    augment: bool = typer.Option(False, "--augment", help="Add one seeded random flip/rotation copy of each training patch."),
    val_fraction: float = typer.Option(0.1, "--val-fraction", help="Share of the rows held out for validation (0: none)."),
    test_block: int = typer.Option(128, "--test-block", help="Side of the square test images in the bottom strip (0: none)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the augmentation and of --max-patches."),
    max_patches: Optional[int] = typer.Option(None, "--max-patches", help="At most this many training patches per source."),
    compression: Optional[str] = typer.Option(None, "--compression", help="h5 compression: gzip or lzf (default none)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress messages."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="corpus: the shared corpus folder."),
    tile: int = typer.Option(128, "--tile", help="corpus: side of the held-out images (gt pixels)."),
    pan_mode: str = typer.Option("imresize", "--pan-mode", help="corpus: PAN degradation, imresize (bicubic) or mtf."),
    dtype: str = typer.Option("float32", "--dtype", help="corpus: stored type of the training file, float32 or float16."),
) -> None:

    if compression not in (None, "gzip", "lzf"):
        raise ValueRangeError(f"--compression must be gzip or lzf; got {compression!r}")
    if max_patches is not None and max_patches < 1:
        raise ValueRangeError(f"--max-patches must be at least 1; got {max_patches}")
    say = None if quiet else (lambda msg: typer.echo(msg, err=True))
    if any(s.lower().startswith("corpus:") for s in sources):
        if len(sources) != 1:
            raise ValueRangeError("corpus:FAMILY is a whole set on its own; give it as the only source")
        if dtype not in ("float32", "float16"):
            raise ValueRangeError(f"--dtype must be float32 or float16; got {dtype!r}")
        written = simulate_corpus(
            sources[0].split(":", 1)[1], out, root=data_root, patch=patch, stride=stride or 64, tile=tile,
            max_patches=max_patches, pan_mode=pan_mode, dtype=dtype, compression=compression or "gzip", seed=seed,
            overwrite=overwrite, progress=say,
        )
        typer.echo(f"manifest {written.pop('manifest')}")
    else:
        written = simulate(
            sources, out, sensor=sensor, ratio=ratio, patch=patch, stride=stride or 32, augment=augment,
            val_fraction=val_fraction, test_block=test_block, seed=seed, max_patches=max_patches,
            compression=compression, overwrite=overwrite, progress=say,
        )
    for split, path in written.items():
        with open_pancollection(path) as f:
            shapes = ", ".join(f"{k} {f.shape(k)[1:]}" for k in f.keys)
            typer.echo(f"{split:<5} {path}  {len(f)} samples  ({shapes})")
