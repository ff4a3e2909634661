"""Product metadata: Maxar IMD/XML, Airbus DIMAP v2, Landsat MTL and GeoTIFF tags give raw facts."""
from __future__ import annotations


import pytest

from pansharpen.io.metadata import product_metadata, read_dimap, read_maxar_xml, read_mtl


@pytest.fixture
def data(shared_dir):
    if not (shared_dir / "data").is_dir():
        pytest.skip(f"{shared_dir / 'data'} (the real-product corpus) is absent")
    return shared_dir / "data"


# A DIMAP v2 product document reduced to the elements read, in the real structure and order of an
# Airbus Pleiades primary product (DIM_PHR1A_MS_*.XML): Metadata_Identification, Dataset_Sources,
# Raster_Data (Raster_Dimensions, Raster_Encoding, Raster_Display), Radiometric_Data.
DIMAP = """<?xml version="1.0" encoding="UTF-8"?>
<DIMAP_Document xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" name="DIM_{mission}{index}_MS_001.XML">
  <Metadata_Identification>
    <METADATA_FORMAT version="2.0">DIMAP</METADATA_FORMAT>
    <METADATA_PROFILE>{mission}_ORTHO</METADATA_PROFILE>
    <METADATA_SUBPROFILE>PRODUCT</METADATA_SUBPROFILE>
    <METADATA_LANGUAGE>en</METADATA_LANGUAGE>
  </Metadata_Identification>
  <Dataset_Sources>
    <Source_Identification>
      <SOURCE_ID>DS_{mission}{index}_201703141054355_FR1_PX_E001N43_0310_01170</SOURCE_ID>
      <SOURCE_TYPE>Strip</SOURCE_TYPE>
      <Strip_Source>
        <MISSION>{mission}</MISSION>
        <MISSION_INDEX>{index}</MISSION_INDEX>
        <INSTRUMENT>{mission}</INSTRUMENT>
        <INSTRUMENT_INDEX>1</INSTRUMENT_INDEX>
        <IMAGING_DATE>2017-03-14</IMAGING_DATE>
      </Strip_Source>
    </Source_Identification>
  </Dataset_Sources>
  <Raster_Data>
    <Raster_Dimensions>
      <NROWS>4000</NROWS>
      <NCOLS>4000</NCOLS>
      <NBANDS>4</NBANDS>
    </Raster_Dimensions>
    <Raster_Encoding>
      <DATA_TYPE>UNSIGNED</DATA_TYPE>
      <NBITS>{nbits}</NBITS>
      <SIGN>UNSIGNED</SIGN>
    </Raster_Encoding>
    <Raster_Display>
      <Band_Display_Order>
        <RED_CHANNEL>B2</RED_CHANNEL>
        <GREEN_CHANNEL>B1</GREEN_CHANNEL>
        <BLUE_CHANNEL>B0</BLUE_CHANNEL>
      </Band_Display_Order>
    </Raster_Display>
  </Raster_Data>
  <Radiometric_Data>
    <Radiometric_Calibration>
      <Instrument_Calibration>
        <Band_Measurement_List>
          <Band_Radiance><BAND_ID>B0</BAND_ID><GAIN>9.97</GAIN><BIAS>0</BIAS></Band_Radiance>
          <Band_Radiance><BAND_ID>B1</BAND_ID><GAIN>10.3</GAIN><BIAS>0</BIAS></Band_Radiance>
          <Band_Radiance><BAND_ID>B2</BAND_ID><GAIN>11.2</GAIN><BIAS>0</BIAS></Band_Radiance>
          <Band_Radiance><BAND_ID>B3</BAND_ID><GAIN>16.1</GAIN><BIAS>0</BIAS></Band_Radiance>
          <Band_Solar_Irradiance><BAND_ID>B0</BAND_ID><VALUE>1915</VALUE></Band_Solar_Irradiance>
        </Band_Measurement_List>
      </Instrument_Calibration>
    </Radiometric_Calibration>
  </Radiometric_Data>
</DIMAP_Document>
"""

MAXAR_XML = """<?xml version="1.0" encoding="UTF-8"?>
<isd>
  <IMD>
    <VERSION>AA</VERSION>
    <BANDID>Multi</BANDID>
    <BITSPERPIXEL>16</BITSPERPIXEL>
    <BAND_B><ULLON>-105.1</ULLON><ABSCALFACTOR>0.009</ABSCALFACTOR></BAND_B>
    <BAND_G><ULLON>-105.1</ULLON><ABSCALFACTOR>0.007</ABSCALFACTOR></BAND_G>
    <BAND_R><ULLON>-105.1</ULLON><ABSCALFACTOR>0.005</ABSCALFACTOR></BAND_R>
    <BAND_N><ULLON>-105.1</ULLON><ABSCALFACTOR>0.008</ABSCALFACTOR></BAND_N>
    <IMAGE>
      <SATID>GE01</SATID>
      <MODE>FullSwath</MODE>
    </IMAGE>
  </IMD>
</isd>
"""


@pytest.mark.parametrize("mission, index, nbits", [("PHR", "1A", 12), ("SPOT", "7", 12), ("PNEO", "3", 12)])
def test_dimap_mission_bits_and_band_ids(small_tif, tmp_path, mission, index, nbits):
    folder = tmp_path / f"IMG_{mission}{index}_MS_001"
    folder.mkdir()
    (folder / f"DIM_{mission}{index}_MS_001.XML").write_text(DIMAP.format(mission=mission, index=index, nbits=nbits))
    facts = read_dimap(folder / f"DIM_{mission}{index}_MS_001.XML")
    assert facts.mission == f"{mission} {index}" and facts.bits == nbits and facts.instrument == mission
    assert facts.band_ids == ("B0", "B1", "B2", "B3")
    # found from the image beside it (any TIFF in the product folder)
    tif = small_tif(folder / f"IMG_{mission}{index}_MS_R1C1.TIF")
    found = product_metadata(tif)
    assert found.mission == f"{mission} {index}" and found.source.startswith("DIM_")


def test_dimap_reader_ignores_other_xml(tmp_path):
    (tmp_path / "DIM_x.XML").write_text("<Other_Document><MISSION>PHR</MISSION></Other_Document>")
    assert read_dimap(tmp_path / "DIM_x.XML") is None
    (tmp_path / "DIM_y.XML").write_text("not xml at all <")
    assert read_dimap(tmp_path / "DIM_y.XML") is None


def test_maxar_xml_and_imd(small_tif, tmp_path):
    (tmp_path / "17MAR01-M2AS.XML").write_text(MAXAR_XML)
    facts = read_maxar_xml(tmp_path / "17MAR01-M2AS.XML")
    assert facts.mission == "GE01" and facts.band_ids == ("B", "G", "R", "N")
    assert facts.bits is None  # BITSPERPIXEL is the storage width, not the significant bits
    tif = small_tif(tmp_path / "17MAR01-M2AS.TIF")
    assert product_metadata(tif).mission == "GE01"
    # an IMD beside a TIFF with a different case of the stem
    (tmp_path / "MS.IMD").write_text('BEGIN_GROUP = BAND_B\n\tabsCalFactor = 1;\nEND_GROUP = BAND_B\n'
                                     'BEGIN_GROUP = IMAGE_1\n\tsatId = "WV02";\nEND_GROUP = IMAGE_1\n')
    facts = product_metadata(small_tif(tmp_path / "ms.tif", bands=1))
    assert facts.mission == "WV02" and facts.source == "MS.IMD" and facts.band_ids == ("B",)


def test_real_imd_of_pairmax(data):
    facts = product_metadata(data / "worldview8/pairmax_W3_Muni_Mix_RR/ms.tif")
    assert facts.mission == "WV03" and facts.band_ids == ("C", "B", "G", "Y", "R", "RE", "N", "N2")


@pytest.mark.parametrize("scene, mission, sensor_id, bits", [
    ("rcran_satellite_lc08", "LANDSAT_8", "OLI_TIRS", 16), ("rcran_satellite_le07", "LANDSAT_7", "ETM", 8)])
def test_real_landsat_mtl(data, scene, mission, sensor_id, bits):
    folder = data / "landsat" / scene
    mtl = next(folder.glob("*_MTL.txt"))
    facts = read_mtl(mtl)
    assert (facts.mission, facts.instrument, facts.bits) == (mission, sensor_id, bits)
    found = product_metadata(folder / "ms.tif")
    assert found.mission == mission and found.source == mtl.name
    # the MS band descriptions complete what the MTL does not say (which bands are stacked)
    assert found.band_ids[0].startswith("B1" if "le07" in scene else "B2")


def test_geotiff_tags_and_nbits(small_tif, tmp_path):
    tif = small_tif(tmp_path / "ms.tif", tags={"SENSOR": "WorldView-3"}, descriptions=("Blue", "Green", "Red", "NIR1"),
               nbits=11)
    facts = product_metadata(tif)
    assert facts.mission == "WorldView-3" and facts.bits == 11 and facts.band_ids == ("Blue", "Green", "Red", "NIR1")
    assert product_metadata(small_tif(tmp_path / "bare.tif")) is None
    assert product_metadata(tmp_path / "missing.tif") is None


def test_sidecar_wins_over_tags_and_tags_complete_it(small_tif, tmp_path):
    (tmp_path / "ms.IMD").write_text('BEGIN_GROUP = IMAGE_1\n\tsatId = "QB02";\nEND_GROUP = IMAGE_1\n')
    tif = small_tif(tmp_path / "ms.tif", tags={"SENSOR": "IKONOS"}, descriptions=("B", "G", "R", "N"), nbits=11)
    facts = product_metadata(tif)
    assert facts.mission == "QB02" and facts.bits == 11 and facts.band_ids == ("B", "G", "R", "N")


@pytest.mark.parametrize("which, sat", [("WV3", "WV03"), ("WV2", "WV02")])
def test_real_maxar_xml_of_the_samples(which, sat):
    pytest.importorskip("dgsamples")
    from pansharpen.io.samples import sample_product

    pan, ms = sample_product(which)
    facts = read_maxar_xml(ms.with_suffix(".XML"))
    assert facts.mission == sat and facts.band_ids == ("C", "B", "G", "Y", "R", "RE", "N", "N2")
    assert read_maxar_xml(pan.with_suffix(".XML")).band_ids == ("P",)
