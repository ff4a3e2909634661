"""pansharpen: pansharpening and remote-sensing image fusion.

Public API:

* ``pansharpen.fuse(pan, ms, out, model=..., method=..., weights=...)`` -- fuse a product into a GeoTIFF;
* ``pansharpen.fuse_dataarray(pan, ms, ...)`` -- the same for xarray/rioxarray DataArrays;
* ``pansharpen.models`` -- ``create``, ``load``, ``list_models``, ``save`` (networks and bundled weights);
* ``pansharpen.layers`` -- SpanConv, LGPConv, BSConv, Ada3D as ``torch.nn`` modules;
* ``pansharpen.metrics`` -- reference-exact Q2n, Q, SAM, ERGAS, SCC, D_lambda, D_s, QNR, HQNR;
* ``pansharpen.protocol`` -- sensors, MTF filters, interp23tap, MATLAB imresize, Wald degradation;
* ``pansharpen.classical`` -- classical methods (GSA, MTF-GLP-HPM, BDSD, ...).
"""
from __future__ import annotations

from ._version import __version__  # noqa: F401

from .errors import PanSharpenError  # noqa: F401


def fuse(pan, ms, out, **options):
    """Fuse a PAN + MS product into a GeoTIFF on the PAN grid; see :func:`pansharpen.fusion.fuse.fuse`."""
    from .fusion.fuse import fuse as _fuse

    return _fuse(pan, ms, out, **options)


def fuse_dataarray(pan, ms, **options):
    """Fuse two ``(band, y, x)`` DataArrays; see :func:`pansharpen.fusion.xarray_api.fuse_dataarray`."""
    from .fusion.xarray_api import fuse_dataarray as _fuse_dataarray

    return _fuse_dataarray(pan, ms, **options)


def load_model(path_or_name):
    """A model from a safetensors file or a bundled name; see :func:`pansharpen.models.load`."""
    from .models import load

    return load(path_or_name)


def list_models():
    from .models import list_models as _list

    return _list()
