"""The high-level fuse API and the `pansharpen fuse` command: sensor resolution, model checks, CLI errors."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from pansharpen.cli import main
from pansharpen.errors import ModelError
from pansharpen.models import create, save
from pansharpen.fusion.fuse import check_card_for_product, fuse, resolve_sensor
from pansharpen.protocol import get_sensor


def _write(path, arr, transform):
    with rasterio.open(
        path, "w", driver="GTiff", width=arr.shape[2], height=arr.shape[1], count=arr.shape[0],
        dtype="uint16", crs="EPSG:32613", transform=transform,
    ) as dst:
        dst.write(np.rint(arr).astype("uint16"))
    return path


@pytest.fixture
def product(tmp_path):
    """A 4-band QuickBird-like product with an IMD file naming the satellite."""
    rng = np.random.default_rng(0)
    ms = rng.uniform(100, 1500, (4, 16, 16))
    pan = np.repeat(np.repeat(ms.mean(0, keepdims=True), 4, 1), 4, 2) + rng.normal(0, 20, (1, 64, 64))
    p = _write(tmp_path / "P.TIF", np.clip(pan, 0, 2047), Affine(0.6, 0, 0, 0, -0.6, 0))
    m = _write(tmp_path / "M.TIF", ms, Affine(2.4, 0, 0, 0, -2.4, 0))
    (tmp_path / "M.IMD").write_text('BEGIN_GROUP = IMAGE_1\n\tsatId = "QB02";\nEND_GROUP = IMAGE_1\n')
    return p, m


def test_sensor_comes_from_the_imd_then_the_option(product):
    p, m = product
    assert resolve_sensor(None, m, p, 4).name == "QB"
    assert resolve_sensor("IKONOS", m, p, 4).name == "IKONOS"


def test_method_fusion_clips_to_the_sensor_range(product, tmp_path):
    p, m = product
    out = fuse(p, m, tmp_path / "out.tif", method="mtf-glp-hpm")
    with rasterio.open(out) as src, rasterio.open(p) as ref:
        data = src.read()
        assert src.transform == ref.transform and src.count == 4 and src.dtypes[0] == "uint16"
    assert data.max() <= get_sensor("QB").max_value


def test_weights_file_and_band_checks(product, tmp_path):
    p, m = product
    model = create("dicnn", bands=4)
    model.card.sensors = ["QB"]
    weights = save(model, tmp_path / "dicnn.safetensors")
    out = fuse(p, m, tmp_path / "net.tif", weights=weights)
    assert out.exists()
    eight = create("dicnn", bands=8)
    save(eight, tmp_path / "eight.safetensors")
    with pytest.raises(ModelError, match="8 bands but the MS has 4"):
        fuse(p, m, tmp_path / "x.tif", weights=tmp_path / "eight.safetensors")


def test_model_for_another_sensor_is_refused():
    from pansharpen.protocol import generic_sensor

    card = create("dicnn", bands=4).card
    card.sensors = ["QB"]
    with pytest.warns(UserWarning, match="same bands"):
        check_card_for_product(card, get_sensor("IKONOS"), 4)  # same band set (B, G, R, NIR)
    other = generic_sensor((0.3,) * 4, bands=("Red", "RedEdge", "NIR", "SWIR"), name="other")
    with pytest.raises(ModelError, match="bands differ"):
        check_card_for_product(card, other, 4)
    with pytest.raises(ModelError, match="4 bands but the MS has 8"):
        check_card_for_product(card, get_sensor("WV3"), 8)


def test_unknown_model_and_untrained_architecture(product, tmp_path):
    p, m = product
    with pytest.raises(ModelError, match="no bundled weights"):
        fuse(p, m, tmp_path / "x.tif", model="lightnet")
    with pytest.raises(ModelError):
        fuse(p, m, tmp_path / "x.tif", model="no-such-model")
    with pytest.raises(ModelError, match="only one"):
        fuse(p, m, tmp_path / "x.tif", model="lightnet", method="gsa")


def test_cli_fuse_exit_codes(product, tmp_path, capsys):
    p, m = product
    out = tmp_path / "cli.tif"
    assert main(["fuse", str(p), str(m), str(out), "--method", "gsa", "--quiet"]) == 0
    assert main(["fuse", str(p), str(m), str(out), "--method", "gsa", "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["fuse", str(p), str(m), str(out), "--method", "gsa", "--overwrite", "--quiet"]) == 0
    assert main(["fuse", str(p), str(m), str(out), "--method", "nope", "--overwrite", "--quiet"]) == 2
    assert main(["fuse", str(p), str(tmp_path / "missing.tif"), str(tmp_path / "o2.tif"), "--method", "gsa"]) == 2
    assert not (tmp_path / "o2.tif").exists()


def test_fuse_dataarray(product):
    xr = pytest.importorskip("xarray")
    from pansharpen import fuse_dataarray

    p, m = product
    with rasterio.open(p) as a, rasterio.open(m) as b:
        pan = xr.DataArray(a.read().astype(float), dims=("band", "y", "x"))
        ms = xr.DataArray(b.read().astype(float), dims=("band", "y", "x"))
    out = fuse_dataarray(pan, ms, method="exp", sensor="QB")
    assert out.dims == ("band", "y", "x") and out.shape == (4, 64, 64)
    np.testing.assert_allclose(out.values[:, 30:34, 30:34].mean(), ms.values[:, 7:9, 7:9].mean(), rtol=0.2)
