"""Evaluation protocol primitives shared by metrics, data simulation and classical methods.

Sensors table, MTF-matched filters (``genMTF``), ``interp23tap``, MATLAB-compatible
``imresize`` and Wald-protocol degradation, exact to the reference MATLAB toolbox.
"""
from .interp import interp23tap  # noqa: F401
from .mtf import mtf_filter, mtf_filter_pan, mtf_kernel, mtf_kernels  # noqa: F401
from .resize import imresize  # noqa: F401
from .sensors import Sensor, generic_sensor, get_sensor, sensor_names  # noqa: F401
from .wald import decimate, wald_degrade  # noqa: F401
