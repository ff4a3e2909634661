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

from ._version import __version__
from .errors import PanSharpenError
from .fusion.fuse import fuse
from .fusion.xarray_api import fuse_dataarray
from .models import list_models
from .models import load as load_model

__all__ = ["__version__", "PanSharpenError", "fuse", "fuse_dataarray", "list_models", "load_model"]
