"""Hyperspectral data sets: cubes built from real products, and HyperPanCollection / CAVE-style
training sets written from them (the fast hyperspectral indices are :mod:`pansharpen.metrics.hyperspectral`).

* :func:`interpolate_spectra` / :func:`wv3_cube` -- a hyperspectral-like cube from the 8 WV3
  VNIR bands (optionally plus the 8 SWIR bands) by shape-preserving (PCHIP) interpolation of
  each pixel's spectrum from the band centres onto N wavelengths.
* :func:`write_hs_sets` -- spatially disjoint train / valid / test sets simulated with
  :mod:`pansharpen.protocol.hyperspectral` and written as h5 with upper-case keys.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import rasterio
from rasterio.warp import Resampling, reproject
from scipy.interpolate import PchipInterpolator

from ..errors import DataFormatError, ShapeError, ValueRangeError
from ..io.metadata import imd_path, read_imd
from ..io.pancollection import write_pancollection
from ..io.samples import sample_product
from ..protocol.hyperspectral import simulate_hisr, simulate_hs_pansharpening
from ..protocol.spectral import WV3_SWIR_RANGES, WV3_VNIR_RANGES, band_centres

__all__ = ["interpolate_spectra", "wv3_cube", "write_hs_sets"]

# ------------------------------------------------------------------- cubes from real products
def interpolate_spectra(bands: np.ndarray, centres: Sequence[float], wavelengths: Sequence[float]) -> np.ndarray:
    """Resample each pixel's spectrum from band centres to ``wavelengths`` (PCHIP, flat beyond the ends).

    Args:
        bands: ``(C, H, W)`` band images, C >= 2.
        centres: ``(C,)`` band centres in nm, distinct.
        wavelengths: ``(N,)`` target wavelengths in nm.

    Returns:
        ``(N, H, W)`` float64. PCHIP (Fritsch-Carlson monotone cubic) never overshoots the
        neighbouring samples, so the cube stays inside the data's range; wavelengths outside
        ``[min(centres), max(centres)]`` take the end bands' values.
    """
    x = np.asarray(bands, dtype=np.float64)
    c = np.asarray(centres, dtype=np.float64).ravel()
    w = np.asarray(wavelengths, dtype=np.float64).ravel()
    if x.ndim != 3 or x.shape[0] != c.size:
        raise ShapeError(f"bands {x.shape} need one centre per band; got {c.size} centres")
    if c.size < 2 or np.unique(c).size != c.size:
        raise ValueRangeError("spectral interpolation needs at least 2 bands with distinct centres")
    if w.size < 1 or not np.isfinite(w).all():
        raise ValueRangeError("target wavelengths must be a non-empty list of finite values (nm)")
    order = np.argsort(c)
    spline = PchipInterpolator(c[order], x[order], axis=0, extrapolate=False)
    return spline(np.clip(w, c.min(), c.max()))


def _swir_on_ms_grid(swir_path: Path, ms_path: Path) -> np.ndarray:
    """The SWIR product reprojected (cubic) onto the MS pixel grid: ``(8, H, W)`` float64 DN."""

    with rasterio.open(ms_path) as ms, rasterio.open(swir_path) as sw:
        out = np.zeros((sw.count, ms.height, ms.width))
        reproject(sw.read().astype(np.float64), out, src_transform=sw.transform, src_crs=sw.crs,
                  dst_transform=ms.transform, dst_crs=ms.crs, resampling=Resampling.cubic)
    return out


def _radiance_factors(raster_path: Path, count: int) -> np.ndarray:
    """``absCalFactor / effectiveBandwidth`` per band from the IMD beside the raster (DN -> radiance)."""

    imd = imd_path(raster_path)
    if imd is None:
        raise DataFormatError(f"{raster_path}: no .IMD beside it; radiance calibration needs absCalFactor")
    meta = read_imd(imd)
    names = [b for b in meta["bands"].split(",") if b]
    if len(names) != count:
        raise DataFormatError(f"{imd}: {len(names)} band groups for {count} raster bands")
    return np.array([float(meta[f"{b}.absCalFactor"]) / float(meta[f"{b}.effectiveBandwidth"]) for b in names])


def wv3_cube(
    n_bands: int = 32,
    span: tuple[float, float] | None = None,
    swir: bool = False,
    max_value: float = 2047.0,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """A hyperspectral-like cube from the dgsamples WorldView-3 product (835 x 835, 1.2 m).

    VNIR only (default): the 8 MS bands in digital numbers, interpolated (PCHIP) from their
    data-sheet band centres to ``n_bands`` wavelengths evenly spaced over ``span`` (default
    400-1040 nm). With ``swir=True`` the 8 SWIR bands (7.5 m) are reprojected onto the MS grid
    (cubic), both products are calibrated to top-of-atmosphere radiance with the IMD's
    ``absCalFactor / effectiveBandwidth`` (so that the spectra join), interpolated over
    ``span`` (default 400-2365 nm) and scaled by one factor so that the cube's maximum is
    ``max_value``.

    Returns:
        ``(cube (n_bands, 835, 835) float64, wavelengths (n_bands,) nm, provenance dict)``.
    """


    if int(n_bands) != n_bands or n_bands < 2:
        raise ValueRangeError(f"n_bands must be an integer >= 2; got {n_bands}")
    _, ms_path = sample_product("WV3")
    with rasterio.open(ms_path) as ds:
        vnir = ds.read().astype(np.float64)
    centres = band_centres(WV3_VNIR_RANGES)
    info = {"source": f"dgsamples WV3 {ms_path.name}", "bands_from": "8 VNIR"}
    if swir:
        found = sorted((ms_path.parent.parent).glob("*_SWR/*-A2AS-*.TIF"))
        if len(found) != 1:
            raise DataFormatError(f"the WV3 SWIR product is missing beside {ms_path.parent}; reinstall dgsamples")
        sw = _swir_on_ms_grid(found[0], ms_path)
        bands = np.concatenate([vnir * _radiance_factors(ms_path, 8)[:, None, None],
                                sw * _radiance_factors(found[0], 8)[:, None, None]])
        centres = np.concatenate([centres, band_centres(WV3_SWIR_RANGES)])
        info.update(bands_from="8 VNIR + 8 SWIR (TOA radiance, rescaled)", swir=found[0].name)
        span = span or (400.0, 2365.0)
    span = span or (400.0, 1040.0)
    wavelengths = np.linspace(span[0], span[1], int(n_bands))
    cube = interpolate_spectra(vnir if not swir else bands, centres, wavelengths)
    if swir:
        cube *= max_value / cube.max()
    info.update(n_bands=int(n_bands), span_nm=[float(span[0]), float(span[1])], interpolation="pchip")
    return cube, wavelengths, info


# ---------------------------------------------------------------------------- training sets
def _patches(arrays: dict, ratio: int, patch: int, stride: int) -> dict:
    """Aligned patches of simulated whole-region arrays: HR keys cut at ``patch``, LR keys at ``patch/ratio``."""
    hr_h, hr_w = arrays["GT"].shape[-2:]
    out = {k: [] for k in arrays}
    for y in range(0, hr_h - patch + 1, stride):
        for x in range(0, hr_w - patch + 1, stride):
            for k, a in arrays.items():
                s = ratio if a.shape[-1] * ratio == hr_w and a.shape[-1] != hr_w else 1
                out[k].append(a[..., y // s : (y + patch) // s, x // s : (x + patch) // s])
    return {k: np.stack(v) for k, v in out.items()}


def write_hs_sets(
    cube: np.ndarray,
    wavelengths: Sequence[float],
    out_dir: "str | os.PathLike",
    task: str = "hs",
    ratio: int = 4,
    patch: int = 32,
    stride: int = 32,
    test_size: int = 256,
    valid_patches: int = 8,
    response=None,
    sigma: float | None = None,
    normaliser: float = 2047.0,
    attrs: dict | None = None,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Simulate and write spatially disjoint ``train.h5``, ``valid.h5``, ``test.h5`` from one cube.

    Layout of the scene (``L x H x W`` cropped to multiples of ``ratio``): the bottom
    ``test_size`` rows hold the held-out blocks -- the first ``test_size``-square block is the
    validation region (cut into ``valid_patches`` patches), the following ones are the test images
    -- and the rows above them, less a gap of ``2 * ratio`` rows, are the training region, cut
    into ``patch`` squares every ``stride`` pixels. Each region is simulated whole
    (:mod:`pansharpen.protocol.hyperspectral`), so patches never see another region's pixels.

    ``task="hs"``: HyperPanCollection keys ``GT/MS/LMS/PAN`` (PAN response default ``"wv3-pan"``);
    ``task="hisr"``: CAVE-style ``GT/LRHSI/RGB`` (response default ``"rgb"``) plus ``LMS``.
    Files are float32 h5 in the cube's units, with ``normaliser``, ``wavelengths``, ``task`` and
    the response recorded as attributes.

    Returns:
        ``{"train": path, "valid": path, "test": path}``.
    """

    if task not in ("hs", "hisr"):
        raise ValueRangeError(f"task must be 'hs' (hyperspectral pansharpening) or 'hisr'; got {task!r}")
    cube = np.asarray(cube, dtype=np.float64)
    if cube.ndim != 3:
        raise ShapeError(f"cube must be (L, H, W); got {cube.shape}")
    if patch % ratio or stride % ratio or test_size % patch:
        raise ShapeError(f"patch ({patch}), stride ({stride}) must be multiples of ratio {ratio} and test_size "
                         f"({test_size}) a multiple of patch")
    h, w = (cube.shape[1] // ratio) * ratio, (cube.shape[2] // ratio) * ratio
    cube = cube[:, :h, :w]
    blocks_across = w // test_size
    train_rows = h - test_size - 2 * ratio
    if blocks_across < 2 or train_rows < patch:
        raise ShapeError(f"a {h}x{w} cube is too small for a {test_size}-pixel validation block, a test block and "
                         f"{patch}-pixel training patches; use a smaller test_size or patch")
    if response is None:
        response = "wv3-pan" if task == "hs" else "rgb"

    def simulate(region):
        if task == "hs":
            return simulate_hs_pansharpening(region, ratio, response, wavelengths, sigma)
        return simulate_hisr(region, ratio, response, wavelengths, sigma, with_lms=True)

    top = h - test_size
    train = _patches(simulate(cube[:, :train_rows]), ratio, patch, stride)
    valid = _patches(simulate(cube[:, top:, :test_size]), ratio, patch, patch)
    valid = {k: v[:valid_patches] for k, v in valid.items()}
    tests = [simulate(cube[:, top:, i * test_size : (i + 1) * test_size]) for i in range(1, blocks_across)]
    test = {k: np.stack([t[k] for t in tests]) for k in tests[0]}
    meta = {"task": task, "ratio": int(ratio), "normaliser": float(normaliser),
            "wavelengths": [float(v) for v in wavelengths], "response": response if isinstance(response, str) else "user matrix",
            "sigma": sigma if sigma is not None else "mtf-matched (gain 0.3)", **(attrs or {})}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, arrays, region in (("train", train, [0, train_rows, 0, w]), ("valid", valid, [top, h, 0, test_size]),
                                 ("test", test, [top, h, test_size, blocks_across * test_size])):
        paths[name] = write_pancollection(out / f"{name}.h5", arrays, {**meta, "region_rows_cols": region},
                                          dtype=np.float32, overwrite=overwrite)
    return paths
