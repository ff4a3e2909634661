"""Evaluation protocol primitives shared by metrics, data simulation and classical methods.

Sensors table, MTF-matched filters (``genMTF``), ``interp23tap``, MATLAB-compatible
``imresize`` and Wald-protocol degradation, exact to the reference MATLAB toolbox.
"""
from .sensors import Sensor, generic_sensor, get_sensor, sensor_names  # noqa: F401
