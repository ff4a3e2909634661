"""``pansharpen simulate-hs``: hyperspectral pansharpening / HISR sets from a cube (simulated)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer

from ..datasets.hyperspectral import write_hs_sets, wv3_cube
from ..errors import ShapeError, ValueRangeError
from ..io.pancollection import open_pancollection
from ..io.raster import read_image
from .app import app

_HELP = """Build hyperspectral training, validation and test sets by simulation.

\b
SOURCE: dgsamples:WV3 (a cube interpolated from the WorldView-3 sample's 8 VNIR bands,
        --swir adds its 8 SWIR bands) or a hyperspectral raster (GeoTIFF, ENVI, any
        format rasterio reads) whose band centres are --wavelengths or evenly spread over --span.

\b
--task hs   : GT = cube, MS = Gaussian blur + decimation by --ratio, PAN = response x cube
              (WV3 PAN by default), LMS = interp23tap(MS); h5 keys GT/MS/LMS/PAN.
--task hisr : GT, LRHSI (blur + decimation), RGB = camera response x cube (or HRMSI for
              another --response), plus LMS.

Writes DIR/train.h5, DIR/valid.h5, DIR/test.h5 (spatially disjoint; see docs/hyperspectral.md).
"""


def _wavelengths(text: Optional[str], count: int, span: tuple[float, float]):

    if text is None:
        return np.linspace(span[0], span[1], count)
    try:
        values = np.array([float(v) for v in text.replace(";", ",").split(",") if v.strip()])
    except ValueError:
        raise ValueRangeError(f"--wavelengths must be comma-separated numbers in nm; got {text!r}") from None
    if values.size != count:
        raise ShapeError(f"--wavelengths gives {values.size} centres but the cube has {count} bands")
    return values


@app.command("simulate-hs", help=_HELP)
def simulate_hs_command(
    source: str = typer.Argument(..., help="dgsamples:WV3 or a hyperspectral raster file."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for train.h5, valid.h5, test.h5."),
    task: str = typer.Option("hs", "--task", help="hs (hyperspectral pansharpening) or hisr (HS + RGB/MS)."),
    bands: int = typer.Option(32, "--bands", help="Bands of the interpolated cube (dgsamples:WV3 only)."),
    span: Optional[str] = typer.Option(None, "--span", help="Wavelength range LOW,HIGH in nm (default 400,1040; 400,2365 with --swir)."),
    swir: bool = typer.Option(False, "--swir", help="dgsamples:WV3: add the 8 SWIR bands (radiance-calibrated)."),
    wavelengths: Optional[str] = typer.Option(None, "--wavelengths", help="Raster source: band centres in nm, comma-separated."),
    response: Optional[str] = typer.Option(None, "--response", help="wv3-pan, rgb, wv3-vnir or a .csv/.npy/.npz file (bands x wavelengths)."),
    ratio: int = typer.Option(4, "--ratio", help="Resolution ratio of the simulated low-resolution cube."),
    sigma: Optional[float] = typer.Option(None, "--sigma", help="Gaussian blur std in HR pixels (default: MTF gain 0.3 at Nyquist)."),
    patch: int = typer.Option(32, "--patch", help="Training patch side (HR pixels)."),
    stride: int = typer.Option(32, "--stride", help="Distance between training patches."),
    test_size: int = typer.Option(256, "--test-size", help="Side of the held-out validation/test blocks."),
    max_value: float = typer.Option(2047.0, "--max-value", help="Normaliser recorded for training (the data's DN maximum)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
) -> None:

    given_span = None
    if span is not None:
        try:
            low, high = (float(v) for v in span.split(","))
        except ValueError:
            raise ValueRangeError(f"--span must be LOW,HIGH in nm; got {span!r}") from None
        if not high > low:
            raise ValueRangeError(f"--span must be LOW,HIGH with HIGH > LOW; got {span!r}")
        given_span = (low, high)
    if source.lower() in ("dgsamples:wv3", "dgsamples:worldview-3"):
        cube, centres, info = wv3_cube(bands, given_span, swir=swir, max_value=max_value)
    else:
        if swir:
            raise ValueRangeError("--swir applies to dgsamples:WV3 only")
        cube, _ = read_image(source)
        centres = _wavelengths(wavelengths, cube.shape[0], given_span or (400.0, 1040.0))
        info = {"source": Path(source).name}
    written = write_hs_sets(
        cube, centres, out, task=task, ratio=ratio, patch=patch, stride=stride, test_size=test_size,
        response=response, sigma=sigma, normaliser=max_value, attrs=info, overwrite=overwrite,
    )
    for split, path in written.items():
        with open_pancollection(path) as f:
            shapes = ", ".join(f"{k} {f.shape(k)[1:]}" for k in f.keys)
            typer.echo(f"{split:<5} {path}  {len(f)} samples  ({shapes})")
