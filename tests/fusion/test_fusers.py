"""The classical fuser on whole images (``fuse_image``, what the benchmark runs) against the plain computation."""
from __future__ import annotations

import numpy as np

from pansharpen.classical.registry import get_method
from pansharpen.fusion.fusers import ClassicalFuser
from pansharpen.protocol import get_sensor
from pansharpen.protocol.interp import interp23tap


def _image(seed=0, bands=4, h=8, w=8):
    rng = np.random.default_rng(seed)
    ms = rng.uniform(200, 1500, (bands, h, w))
    pan = interp23tap(ms, 4).mean(axis=0, keepdims=True) + rng.normal(0, 20, (1, 4 * h, 4 * w))
    return ms, pan


def test_classical_fuse_image_is_the_method_with_its_options():
    ms, pan = _image(1)
    sensor = get_sensor("QB")
    fuser = ClassicalFuser("bdsd", sensor, 4, {"block": 16})
    np.testing.assert_array_equal(fuser.fuse_image(ms, pan), get_method("bdsd")(ms, pan, sensor, 4, block=16))
    assert not np.array_equal(fuser.fuse_image(ms, pan), get_method("bdsd")(ms, pan, sensor, 4, block=32))
