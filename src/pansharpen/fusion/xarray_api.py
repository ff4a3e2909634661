"""Entry point for xarray / rioxarray users: ``fuse_dataarray(pan, ms, ...)``.

Both inputs are ``(band, y, x)`` DataArrays (for example from ``rioxarray.open_rasterio``);
their grids are checked like files (CRS, integer ratio, overlap) when they carry
rioxarray georeferencing. The result is a float64 ``(band, y, x)`` DataArray on the PAN
coordinates, computed in memory tile by tile (Dask-backed inputs are read once).
"""
from __future__ import annotations

import numpy as np

from ..errors import PanSharpenError
from ..io.grid import PairGrid
from ..io.sources import ArraySource
from ..protocol.policy import resolve_sensor
from .fuse import make_fuser
from .scene import fuse_sources


def _source(da, name: str):
    transform = crs = nodata = None
    if hasattr(da, "rio"):
        try:
            transform = da.rio.transform()
            crs = da.rio.crs
            nodata = da.rio.nodata
        except Exception:  # not georeferenced
            transform = None
    arr = np.asarray(da.values if hasattr(da, "values") else da)
    return ArraySource(arr, transform=transform, crs=crs, nodata=nodata, path=name)


def fuse_dataarray(pan, ms, *, model=None, method=None, weights=None, sensor=None, tile: int = 512):
    """Fuse two ``(band, y, x)`` DataArrays; returns a DataArray on the PAN grid (float64, not clipped)."""
    try:
        import xarray as xr  # optional: the dask extra
    except ImportError:
        raise PanSharpenError("fuse_dataarray needs xarray: pip install 'pansharpen[dask]'") from None

    pan_src, ms_src = _source(pan, "pan"), _source(ms, "ms")
    grid = PairGrid.from_infos(pan_src.info, ms_src.info)
    # arrays carry no product metadata: the option, else none (the toolbox gains for a classical method)
    sensor_obj = resolve_sensor(sensor, nbands=ms_src.info.count)[0] if sensor is not None else None
    fuser = make_fuser(model=model, method=method, weights=weights, sensor=sensor_obj, nbands=ms_src.info.count, ratio=grid.ratio)
    data = fuse_sources(pan_src, ms_src, fuser, tile=tile)
    coords = {k: v for k, v in pan.coords.items() if k in ("y", "x", "spatial_ref")}
    coords["band"] = np.arange(1, data.shape[0] + 1)
    out = xr.DataArray(data, dims=("band", "y", "x"), coords=coords, attrs={"fused_with": fuser.name})
    return out
