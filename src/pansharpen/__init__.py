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

import importlib

from ._version import __version__
from .errors import PanSharpenError
from .fusion.fuse import fuse
from .fusion.xarray_api import fuse_dataarray

__all__ = ["__version__", "PanSharpenError", "fuse", "fuse_dataarray", "list_models", "load_model"]

#: subpackages loaded on first attribute access (``pansharpen.models``, ``pansharpen.layers``, ...):
#: ``import pansharpen`` and the classical commands do not import torch (see pansharpen._arrays)
_SUBPACKAGES = ("benchmark", "classical", "cli", "datasets", "evaluation", "fusion", "io", "layers", "metrics",
                "models", "protocol", "training", "viz")


def __getattr__(name: str):
    """``list_models``, ``load_model`` and the subpackages, imported on first use (PEP 562)."""
    if name in ("list_models", "load_model"):
        models = importlib.import_module(".models", __name__)
        return models.list_models if name == "list_models" else models.load
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
