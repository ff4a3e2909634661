"""dgsamples products found by sensor name (skipped when dgsamples is not installed)."""
from __future__ import annotations

import importlib.util

import pytest
import rasterio

from pansharpen.errors import DataFormatError
from pansharpen.io.samples import available_products, sample_product

needs_dgsamples = pytest.mark.skipif(
    importlib.util.find_spec("dgsamples") is None, reason="dgsamples is not installed (pip install dgsamples)"
)


@needs_dgsamples
@pytest.mark.parametrize("sensor,pan_size,ms_size", [("WV3", (3340, 3340), (835, 835)), ("WorldView-2", (2004, 2000), (501, 500))])
def test_sample_products(sensor, pan_size, ms_size):
    # sizes from the package's own files (data.md section 1)
    pan, ms = sample_product(sensor)
    with rasterio.open(pan) as p, rasterio.open(ms) as m:
        assert p.count == 1 and (p.height, p.width) == pan_size
        assert m.count == 8 and (m.height, m.width) == ms_size
    assert set(available_products()) == {"WV3", "WV2"}


def test_unknown_sensor():
    with pytest.raises(DataFormatError, match="available: WV3, WV2"):
        sample_product("QB")


def test_missing_package_message(monkeypatch):
    import pansharpen.io.samples as samples

    monkeypatch.setattr(samples.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataFormatError, match="pip install dgsamples"):
        sample_product("WV3")
    assert available_products() == []
