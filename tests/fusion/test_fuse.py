"""The high-level fuse API and the `pansharpen fuse` command: sensor resolution, model checks, CLI errors."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from pansharpen.cli import main
from pansharpen.errors import ModelError, ValueRangeError
from pansharpen.models import create, save
from pansharpen.fusion.fuse import check_card_for_product, fuse
from pansharpen.protocol.policy import resolve_sensor
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
    assert resolve_sensor(None, ms_path=m, pan_path=p, nbands=4)[0].name == "QB"
    assert resolve_sensor("IKONOS", ms_path=m, pan_path=p, nbands=4)[0].name == "IKONOS"


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


# ------------------------------------------------------------------ the default and its one line
def _pair(tmp_path, bands, ratio, tags=None, size=24, seed=0, descriptions=None):
    """A product with ``bands`` MS bands at ``ratio`` (shared pixel corners) and optional MS tags."""
    rng = np.random.default_rng(seed)
    ms = rng.uniform(100, 1500, (bands, size, size))
    up = np.repeat(np.repeat(ms.mean(0, keepdims=True), ratio, 1), ratio, 2)
    pan = np.clip(up + rng.normal(0, 20, up.shape), 0, 2047)
    p = _write(tmp_path / f"pan{bands}_{ratio}.tif", pan, Affine(1.0, 0, 5e5, 0, -1.0, 4e6))
    m = _write(tmp_path / f"ms{bands}_{ratio}.tif", ms, Affine(float(ratio), 0, 5e5, 0, -float(ratio), 4e6))
    if tags or descriptions:
        with rasterio.open(m, "r+") as dst:
            dst.update_tags(**(tags or {}))
            for i, d in enumerate(descriptions or (), start=1):
                dst.set_band_description(i, d)
    return p, m, ms, pan


DEFAULTS = {"defaults": [
    {"bands": 8, "model": "lgpconv-net-wv3", "why": "net"},
    {"bands": 8, "method": "gsa", "why": "m8"},
    {"bands": 6, "method": "bdsd-pc", "why": "m6"},
    {"bands": "any", "method": "awlp", "why": "many"}]}


@pytest.fixture
def defaults_file(tmp_path, monkeypatch):
    """A stand-in for models/weights/defaults.json (the mechanism, not today's measured choices)."""
    import json

    from pansharpen.models import catalogue

    path = tmp_path / "defaults.json"
    path.write_text(json.dumps(DEFAULTS))
    monkeypatch.setattr(catalogue, "DEFAULTS_FILE", path)
    return path


@pytest.mark.parametrize("bands, sensor, ratio, expect", [
    (8, "WV3", 4, ("model", "lgpconv-net-wv3")),  # the card's sensor
    (8, "WV2", 4, ("model", "lgpconv-net-wv3")),  # also on the card
    (8, "none", 4, ("method", "gsa")),  # generic bands: not the network's
    (8, "WV3", 2, ("method", "gsa")),  # another ratio: not the network's
    (6, "L7", 2, ("method", "bdsd-pc")),
    (4, "QB", 4, ("method", "awlp")), (5, "none", 3, ("method", "awlp"))])  # the "any" entry
def test_default_choice_takes_the_first_entry_that_applies(defaults_file, bands, sensor, ratio, expect):
    from pansharpen.fusion.fuse import default_choice
    from pansharpen.protocol.policy import resolve_sensor as policy

    kind, name, why = default_choice(policy(sensor, nbands=bands)[0], bands, ratio)
    assert (kind, name) == expect and f"{bands}-band" in why


def _bundled_default_method(bands: int) -> str:
    """The classical default the bundled table gives for ``bands`` bands (its first method entry)."""
    from pansharpen.models import registry

    return next(e["method"] for e in registry.default_choices(bands) if "method" in e)


def test_default_file_names_real_methods_and_bundled_models():
    from pansharpen.classical import list_methods
    from pansharpen.models import registry

    for bands in (3, 4, 5, 6, 8):
        entries = registry.default_choices(bands)
        assert entries and all(("model" in e) != ("method" in e) and e.get("why") for e in entries)
        assert any("method" in e for e in entries)  # a classical fallback for every band count
        for e in entries:
            assert e.get("method", "exp") in list_methods() and e.get("model", "lgpconv-net-wv3") in registry.bundled_weights()


def test_network_at_another_ratio_is_refused_with_what_to_do(tmp_path):
    p, m, _, _ = _pair(tmp_path, 8, 2, tags={"SENSOR": "WorldView-3"})
    with pytest.raises(ModelError, match="ratio 4, the product has ratio 2.*--method"):
        fuse(p, m, tmp_path / "x.tif", model="lgpconv-net-wv3")
    # the default skips the network and fuses classically
    out = fuse(p, m, tmp_path / "d.tif")
    assert out.exists()


@pytest.mark.parametrize("ratio", [2, 3])
def test_classical_default_at_ratios_2_and_3_equals_the_whole_image_run(tmp_path, ratio):
    from pansharpen.classical import fuse_classical

    p, m, ms, pan = _pair(tmp_path, 4, ratio, tags={"SENSOR": "QuickBird"})
    out = fuse(p, m, tmp_path / "o.tif", tile=12 * ratio)
    with rasterio.open(out) as src:
        fused = src.read().astype(np.float64)
    ms_f = np.rint(ms).astype("uint16").astype(np.float64)
    pan_f = np.rint(pan).astype("uint16").astype(np.float64)
    whole = np.clip(np.rint(fuse_classical(_bundled_default_method(4), ms_f, pan_f, "QB", ratio)), 0, 2047)
    assert fused.shape == (4, 24 * ratio, 24 * ratio)
    inner = (slice(None), slice(8 * ratio, -8 * ratio), slice(8 * ratio, -8 * ratio))  # the borders are mirrored
    np.testing.assert_array_equal(fused[inner], whole[inner])


def test_fuse_prints_one_line_unless_quiet(product, tmp_path, capsys):
    p, m = product
    fuse(p, m, tmp_path / "a.tif", quiet=False)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("fuse:")]
    assert len(lines) == 1
    assert lines[0].startswith(f"fuse: method {_bundled_default_method(4)} (default for 4-band data: ")
    assert "sensor QB (QB02 in M.IMD)" in lines[0] and "ratio 4" in lines[0] and "4 bands (Blue, Green, Red, NIR)" in lines[0]
    assert main(["fuse", str(p), str(m), str(tmp_path / "b.tif"), "--method", "gsa", "--sensor", "IKONOS", "-q"]) == 0
    assert "fuse:" not in capsys.readouterr().out
    assert main(["fuse", str(p), str(m), str(tmp_path / "c.tif"), "--mtf-ms", "0.2,0.2,0.25,0.3", "--bits", "12"]) == 0
    out = capsys.readouterr().out
    assert "sensor QB (QB02 in M.IMD; overridden by --mtf-ms, --bits)" in out


def test_unknown_sensor_is_refused_for_classical_methods(tmp_path, capsys):
    p, m, _, _ = _pair(tmp_path, 4, 4)
    assert main(["fuse", str(p), str(m), str(tmp_path / "x.tif"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "cannot tell which sensor" in err and "--sensor" in err and "--mtf-ms" in err
    assert not (tmp_path / "x.tif").exists()
    assert main(["fuse", str(p), str(m), str(tmp_path / "x.tif"), "-q", "--sensor", "none"]) == 0
    assert main(["fuse", str(p), str(m), str(tmp_path / "y.tif"), "-q", "--mtf-ms", "x"]) == 2
    assert "--mtf-ms 'x'" in capsys.readouterr().err


def test_values_are_clipped_to_the_sensor_bits(tmp_path):
    p, m, _, _ = _pair(tmp_path, 4, 4, tags={"SENSOR": "IKONOS"})
    unclipped = fuse(p, m, tmp_path / "u.tif", method="mtf-glp-hpm")
    # the MS (100..1500) is beyond 10 bits: refused unless the range check is off
    with pytest.raises(ValueRangeError, match=r"beyond the sensor's range \[0, 1023\].*--bits 11"):
        fuse(p, m, tmp_path / "o.tif", method="mtf-glp-hpm", bits=10)
    assert not (tmp_path / "o.tif").exists()
    out = fuse(p, m, tmp_path / "o.tif", method="mtf-glp-hpm", bits=10, check_range=False)
    with rasterio.open(out) as src, rasterio.open(unclipped) as ref:
        assert ref.read().max() > 1023 and src.read().max() == 1023


def test_an_ms_beyond_the_default_bits_is_refused_not_clipped(tmp_path, capsys):
    """16-bit data under the toolbox defaults (11 bits) used to come out as 2047 everywhere, exit 0."""
    p, m, _, _ = _pair(tmp_path, 3, 2)
    with rasterio.open(m, "r+") as dst:  # 16-bit-like DN: 20x the values
        dst.write((dst.read().astype(np.float64) * 20).astype(dst.dtypes[0]))
    with rasterio.open(p, "r+") as dst:
        dst.write((dst.read().astype(np.float64) * 20).astype(dst.dtypes[0]))
    assert main(["fuse", str(p), str(m), str(tmp_path / "o.tif"), "--sensor", "none", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--bits 15" in err and not (tmp_path / "o.tif").exists()
    assert main(["fuse", str(p), str(m), str(tmp_path / "o.tif"), "--sensor", "none", "--bits", "16", "-q"]) == 0
    with rasterio.open(tmp_path / "o.tif") as src:
        assert src.read().max() > 2047


def test_fuse_consistent_projects_a_method_and_is_refused_where_it_cannot_apply(tmp_path, capsys):
    from pansharpen.io.geotiff import read_provenance
    from pansharpen.metrics.reprojection import reproject

    rng = np.random.default_rng(4)
    low = rng.uniform(200, 1500, (4, 64, 64))
    ms = (low + np.roll(low, 1, 1) + np.roll(low, 1, 2)) / 3
    pan = np.repeat(np.repeat(ms.mean(0, keepdims=True), 4, 1), 4, 2) + rng.normal(0, 20, (1, 256, 256))
    p = _write(tmp_path / "P.TIF", np.clip(pan, 0, 2047), Affine(0.6, 0, 0, 0, -0.6, 0))
    m = _write(tmp_path / "M.TIF", ms, Affine(2.4, 0, 0, 0, -2.4, 0))
    out = fuse(p, m, tmp_path / "c.tif", method="gsa", sensor="QB", consistent=True)
    ref = fuse(p, m, tmp_path / "r.tif", method="gsa", sensor="QB")
    with rasterio.open(m) as src:
        ms_dn = src.read().astype(np.float64)

    def err(path):
        with rasterio.open(path) as src:
            fused = src.read().astype(np.float64)
        return np.abs(np.asarray(reproject(fused, "QB", 4)) - ms_dn)[:, 16:-16, 16:-16].mean()

    assert err(out) < 0.6 * err(ref)  # nearer consistency (up to the Tikhonov floor and the uint16 rounding)
    assert read_provenance(out)["consistent"].startswith("projection")
    assert "consistent" not in read_provenance(ref)
    # a network: refused before any work, one line, exit 2
    assert main(["fuse", str(p), str(m), str(tmp_path / "n.tif"), "--model", "pnn", "--sensor", "QB", "--consistent"]) == 2
    assert "--consistent follows a classical method" in capsys.readouterr().err
    assert not (tmp_path / "n.tif").exists()
    # a grid whose MS pixels do not share the PAN's corners
    shifted = _write(tmp_path / "S.TIF", ms, Affine(2.4, 0, 0.3, 0, -2.4, -0.3))  # half a PAN pixel
    with pytest.raises(ValueRangeError, match="pixel corners"):
        fuse(p, shifted, tmp_path / "s.tif", method="gsa", sensor="QB", consistent=True)
    assert not (tmp_path / "s.tif").exists()
