"""The one sensor policy: option > product metadata > model card > refuse; overrides; band fitting."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import rasterio

from pansharpen.errors import SensorError
from pansharpen.protocol.policy import fit_sensor, resolve_sensor
from pansharpen.protocol.sensors import catalogue, get_sensor


@pytest.fixture
def product(small_tif, tmp_path):
    """A 4-band product whose IMD names QuickBird; the PAN carries no metadata."""
    ms = small_tif(tmp_path / "ms.tif")
    pan = small_tif(tmp_path / "pan.tif", bands=1)
    (tmp_path / "ms.IMD").write_text('BEGIN_GROUP = IMAGE_1\n\tsatId = "QB02";\nEND_GROUP = IMAGE_1\n')
    return pan, ms


CARD = SimpleNamespace(name="net-ikonos", sensors=["IKONOS"])


def test_precedence_option_then_metadata_then_card(small_tif, product, tmp_path):
    pan, ms = product
    sensor, why = resolve_sensor("GeoEye1", pan_path=pan, ms_path=ms, card=CARD, nbands=4)
    assert sensor.name == "GeoEye1" and why == "--sensor GeoEye1"
    sensor, why = resolve_sensor(None, pan_path=pan, ms_path=ms, card=CARD, nbands=4)
    assert sensor.name == "QB" and why == "QB02 in ms.IMD"
    bare_ms, bare_pan = small_tif(tmp_path / "b_ms.tif"), small_tif(tmp_path / "b_pan.tif", bands=1)
    sensor, why = resolve_sensor(None, pan_path=bare_pan, ms_path=bare_ms, card=CARD, nbands=4)
    assert sensor.name == "IKONOS" and why == "model card of net-ikonos"
    with pytest.raises(SensorError, match=r"cannot tell which sensor took b_ms.tif.*--sensor NAME.*--mtf-ms.*--sensor none"):
        resolve_sensor(None, pan_path=bare_pan, ms_path=bare_ms, nbands=4)


def test_pan_metadata_is_read_when_the_ms_has_none(small_tif, tmp_path):
    ms = small_tif(tmp_path / "ms.tif")
    pan = small_tif(tmp_path / "pan.tif", bands=1, tags={"SENSOR": "Pleiades-1B"})
    sensor, why = resolve_sensor(None, pan_path=pan, ms_path=ms, nbands=4)
    assert sensor.name == "Pleiades" and "pan.tif" in why and "fallback" in why


def test_unknown_mission_is_named_in_the_refusal(small_tif, tmp_path):
    ms = small_tif(tmp_path / "ms.tif", tags={"SENSOR": "KOMPSAT-3"})
    with pytest.raises(SensorError, match="'KOMPSAT-3', which is not in the catalogue"):
        resolve_sensor(None, ms_path=ms, nbands=4)
    sensor, why = resolve_sensor(None, ms_path=ms, nbands=4, unknown_ok=True)
    assert sensor.ms_gnyq == (0.3,) * 4 and why.startswith("unknown")


def test_overrides_change_the_found_sensor_or_build_one(small_tif, product, tmp_path):
    pan, ms = product
    sensor, why = resolve_sensor(None, pan_path=pan, ms_path=ms, nbands=4, bits=12)
    assert sensor.name == "QB" and sensor.max_value == 4095 and sensor.ms_gnyq == get_sensor("QB").ms_gnyq
    assert "--bits" in why
    sensor, _ = resolve_sensor(None, pan_path=pan, ms_path=ms, nbands=4, mtf_ms=[0.2, 0.21, 0.22, 0.23], mtf_pan=0.1)
    assert sensor.ms_gnyq == (0.2, 0.21, 0.22, 0.23) and sensor.pan_gnyq == 0.1 and sensor.bits == 11
    bare = small_tif(tmp_path / "bare.tif", bands=3)
    sensor, why = resolve_sensor(None, ms_path=bare, nbands=3, mtf_ms=0.25)
    assert sensor.ms_gnyq == (0.25,) * 3 and sensor.pan_gnyq == 0.15 and sensor.bits == 11 and "--mtf-ms" in why
    with pytest.raises(SensorError, match="2 gains but the MS has 3 bands"):
        resolve_sensor(None, ms_path=bare, nbands=3, mtf_ms=[0.2, 0.3])


def test_stated_bits_replace_the_catalogue_bits(small_tif, tmp_path):
    ms = small_tif(tmp_path / "ms.tif")
    with rasterio.open(ms, "r+") as dst:
        dst.update_tags(SENSOR="WorldView-2")
    (tmp_path / "DIM_PHR1A_MS.XML").write_text(
        "<DIMAP_Document><Dataset_Sources><Source_Identification><Strip_Source><MISSION>PHR</MISSION>"
        "<MISSION_INDEX>1A</MISSION_INDEX></Strip_Source></Source_Identification></Dataset_Sources>"
        "<Raster_Data><Raster_Encoding><NBITS>8</NBITS></Raster_Encoding></Raster_Data></DIMAP_Document>")
    sensor, why = resolve_sensor(None, ms_path=ms, nbands=4)
    assert sensor.name == "Pleiades" and sensor.bits == 8 and "8 bits stated" in why  # DIMAP before tags


def test_band_descriptions_select_the_sensor_bands(small_tif, tmp_path):
    ms = small_tif(tmp_path / "ms.tif", tags={"SENSOR": "WorldView-3"}, descriptions=("Blue", "Green", "Red", "NIR1"))
    sensor, _ = resolve_sensor(None, ms_path=ms, nbands=4)
    wv3 = get_sensor("WV3")
    assert sensor.bands == ("Blue", "Green", "Red", "NIR1")
    assert sensor.ms_gnyq == (wv3.ms_gnyq[1], wv3.ms_gnyq[2], wv3.ms_gnyq[4], wv3.ms_gnyq[6])
    assert sensor.rgb == (2, 1, 0)
    # the option is fitted the same way
    assert resolve_sensor("WV3", ms_path=ms, nbands=4)[0].bands == sensor.bands
    bare = small_tif(tmp_path / "bare.tif")
    with pytest.raises(SensorError, match="WV3 has 8 bands but the data has 4"):
        resolve_sensor("WV3", ms_path=bare, nbands=4)


def test_landsat_band_ids_in_file_order():
    l7 = get_sensor("L7")
    fitted = fit_sensor(l7, 6, ("B3_Red", "B2_Green", "B1_Blue", "B4_NIR", "B5_SWIR1", "B7_SWIR2"))
    assert fitted.bands == ("Red", "Green", "Blue", "NIR", "SWIR1", "SWIR2") and fitted.rgb == (0, 1, 2)
    l8 = fit_sensor(get_sensor("L8"), 4, ("B2_Blue", "B3_Green", "B4_Red", "B5_NIR"))
    assert l8.band_ids == ("B2", "B3", "B4", "B5") and l8.ratio == 2 and l8.bits == 16
    # equal gains fit any band count (names unknown); unequal gains do not
    assert fit_sensor(get_sensor("L8"), 3).bands == ("B1", "B2", "B3")
    assert fit_sensor(get_sensor("QB"), 3) is None


@pytest.mark.parametrize("sensor", catalogue(), ids=lambda s: s.name)
def test_every_catalogue_sensor_resolves_by_name_and_aliases(sensor):
    for name in (sensor.name, *sensor.aliases, sensor.name.lower(), sensor.name.upper()):
        found, why = resolve_sensor(name, nbands=sensor.nbands)
        assert found.name == sensor.name and why.startswith(f"--sensor {name}")
        assert ("fallback" in why) == sensor.fallback


@pytest.mark.parametrize("alias, name", [("Pleiades", "Pleiades"), ("PHR1A", "Pleiades"), ("phr 1b", "Pleiades"),
                                         ("SPOT6", "SPOT6"), ("spot-7", "SPOT7"), ("L8", "L8"), ("LC08", "L8"),
                                         ("landsat_9", "L9"), ("LANDSAT_7", "L7"), ("Landsat-7 ETM+", "L7"),
                                         ("GF1", "GF1"), ("gaofen-2", "GF2"), ("PNEO 4", "PleiadesNeo"),
                                         ("WV03", "WV3"), ("GE01", "GeoEye1"), ("QB02", "QB"), ("IK02", "IKONOS"),
                                         ("WorldView-4", "WV4")])
def test_mission_strings_and_aliases(alias, name):
    assert resolve_sensor(alias, nbands=get_sensor(name).nbands)[0].name == name


def test_generic_option():
    sensor, _ = resolve_sensor("none", nbands=5)
    assert sensor.ms_gnyq == (0.3,) * 5 and sensor.pan_gnyq == 0.15


@pytest.mark.parametrize("scene, name, bands, bits", [
    ("landsat/rcran_satellite_lc08", "L8", ("Blue", "Green", "Red", "NIR"), 16),
    ("landsat/rcran_satellite_le07", "L7", ("Blue", "Green", "Red", "NIR", "SWIR1", "SWIR2"), 8),
    ("landsat/fusebox_l7_31", "L7", ("Red", "Green", "Blue", "NIR", "SWIR1", "SWIR2"), 8),
    ("worldview8/pairmax_W2_Miam_Urb_RR", "WV2", get_sensor("WV2").bands, 11),
    ("vhr4/grip_geoeye1", "GeoEye1", ("Blue", "Green", "Red", "NIR"), 11)])
def test_real_products_of_the_corpus(shared_dir, scene, name, bands, bits):
    folder = shared_dir / "data" / scene
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    sensor, _ = resolve_sensor(None, pan_path=folder / "pan.tif", ms_path=folder / "ms.tif", nbands=len(bands))
    assert (sensor.name, sensor.bands, sensor.bits) == (name, bands, bits)
    assert [sensor.bands[i] for i in sensor.rgb] == ["Red", "Green", "Blue"]
