"""Classical pansharpening methods of Vivone et al.'s benchmark (EXP, CS and MRA families) and
GDAL-style weighted Brovey.

Each method is a :class:`ClassicalMethod`: call it as ``method(ms, pan, sensor, ratio)`` or
split the work as ``params = method.estimate(...)`` then ``method.apply(tile_ms, tile_pan, params)``.
"""
from ._common import ClassicalMethod, SingularRegressionWarning  # noqa: F401
from .registry import describe, fuse_classical, get_method, list_methods  # noqa: F401
