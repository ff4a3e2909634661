"""Sensor table against metrics-reference section 1.7 (genMTF.m / MTF_PAN.m constants)."""
from __future__ import annotations

import pytest

from pansharpen.errors import SensorError
from pansharpen.protocol.sensors import Sensor, generic_sensor, get_sensor, sensor_names

# (MS gains per band, PAN gain, bits) as listed in metrics-reference section 1.7
REFERENCE = {
    "QB": ((0.34, 0.32, 0.30, 0.22), 0.15, 11),
    "IKONOS": ((0.26, 0.28, 0.29, 0.28), 0.17, 11),
    "GeoEye1": ((0.23,) * 4, 0.16, 11),
    "WV4": ((0.23,) * 4, 0.16, 11),
    "WV2": ((0.35,) * 7 + (0.27,), 0.11, 11),
    "WV3": ((0.325, 0.355, 0.360, 0.350, 0.365, 0.360, 0.335, 0.315), 0.14, 11),
    "GF2": ((0.3,) * 4, 0.15, 10),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_constants_match_the_reference_toolbox(name):
    ms, pan, bits = REFERENCE[name]
    sensor = get_sensor(name)
    assert sensor.ms_gnyq == pytest.approx(ms)
    assert sensor.pan_gnyq == pytest.approx(pan)
    assert sensor.bits == bits and sensor.nbands == len(ms)
    assert sensor.ratio == 4
    assert all(0 <= i < sensor.nbands for i in sensor.rgb)


def test_max_value_is_the_network_normaliser():
    assert get_sensor("WV3").max_value == 2047
    assert get_sensor("GF2").max_value == 1023


def test_all_builtins_listed():
    assert set(REFERENCE) <= set(sensor_names())


@pytest.mark.parametrize("alias, name", [("wv3", "WV3"), ("WorldView-3", "WV3"), ("QuickBird", "QB"),
                                         ("ge1", "GeoEye1"), ("gaofen-2", "GF2"), ("w v 2", "WV2")])
def test_lookup_ignores_case_and_punctuation(alias, name):
    assert get_sensor(alias).name == name


def test_sensor_instance_passes_through():
    s = get_sensor("QB")
    assert get_sensor(s) is s
    assert get_sensor(s, nbands=4) is s


def test_generic_sensor_defaults():
    s = get_sensor("none", nbands=5)
    assert s.ms_gnyq == (0.3,) * 5 and s.pan_gnyq == 0.15 and s.nbands == 5
    g = generic_sensor([0.2, 0.25], pan_gnyq=0.12, bits=12)
    assert g.bands == ("B1", "B2") and g.max_value == 4095 and g.pan_gnyq == 0.12


def test_with_bands_keeps_gains_in_order():
    sub = get_sensor("WV3").with_bands([4, 2, 1])
    assert sub.bands == ("Red", "Green", "Blue")
    assert sub.ms_gnyq == pytest.approx((0.365, 0.360, 0.355))
    assert sub.rgb == (0, 1, 2)


def test_errors_say_what_to_do():
    with pytest.raises(SensorError, match="unknown sensor 'Landsat-99'.*known"):
        get_sensor("Landsat-99")
    with pytest.raises(SensorError, match="8 bands but the data has 4"):
        get_sensor("WV3", nbands=4)
    with pytest.raises(SensorError, match="band count"):
        get_sensor("none")
    with pytest.raises(SensorError, match="at least one"):
        generic_sensor([])
    with pytest.raises(SensorError, match="outside"):
        generic_sensor([1.5])
    with pytest.raises(SensorError, match="2 MTF gains for 3 bands"):
        Sensor("x", ("a", "b", "c"), 11, (0.3, 0.3), 0.15, (0, 1, 2))
    with pytest.raises(SensorError, match="bit depth"):
        generic_sensor([0.3], bits=0)
    assert str(SensorError("plain")) == "plain"


# The rest of the catalogue (issue 14): bits and ratio from the agencies' product documents; no
# per-sensor MTF gain is published in the project's sources, so the toolbox fallback applies.
OTHERS = {"Pleiades": (4, 12, 4), "PleiadesNeo": (6, 12, 4), "SPOT6": (4, 12, 4), "SPOT7": (4, 12, 4),
          "GF1": (4, 10, 4), "L7": (6, 8, 2), "L8": (7, 16, 2), "L9": (7, 16, 2)}


def test_catalogue_covers_the_common_sensors():
    from pansharpen.protocol.sensors import catalogue

    assert {s.name for s in catalogue()} == set(REFERENCE) | set(OTHERS)


@pytest.mark.parametrize("name", sorted(OTHERS))
def test_fallback_sensors_use_the_toolbox_defaults_and_say_so(name):
    bands, bits, ratio = OTHERS[name]
    s = get_sensor(name)
    assert (s.nbands, s.bits, s.ratio) == (bands, bits, ratio)
    assert s.fallback and s.ms_gnyq == (0.3,) * bands and s.pan_gnyq == 0.15 and "fallback" in s.mtf_source
    assert [s.bands[i] for i in s.rgb] == ["Red", "Green", "Blue"]


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_toolbox_sensors_cite_the_toolbox(name):
    s = get_sensor(name)
    assert ("genMTF" in s.mtf_source) != s.fallback  # GF2: the toolbox applies its fallback
    assert [s.bands[i] for i in s.rgb] == ["Red", "Green", "Blue"]


def test_match_bands_by_name_or_id():
    wv2 = get_sensor("WV2")
    assert wv2.match_bands(["R", "G", "B"]).bands == ("Red", "Green", "Blue")
    assert wv2.match_bands(["Red", "Red"]) is None  # a band named twice
    assert wv2.match_bands(["Band1"]) is None
    assert get_sensor("Pleiades").match_bands(["B2", "B1", "B0", "B3"]).bands == ("Red", "Green", "Blue", "NIR")


def test_equal_gain_sensors_fit_any_band_count_by_name():
    l8 = get_sensor("L8", nbands=4)  # e.g. a simulated set recorded as "L8" from a B2-B5 stack
    assert l8.name == "L8" and l8.ms_gnyq == (0.3,) * 4 and l8.bands == ("B1", "B2", "B3", "B4") and l8.ratio == 2
    assert get_sensor("GeoEye1", nbands=3).ms_gnyq == (0.23,) * 3
    with pytest.raises(SensorError, match="8 bands but the data has 4"):
        get_sensor("WV3", nbands=4)  # unequal gains: which bands is unknown
