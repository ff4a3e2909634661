"""`pansharpen fuse` on bad inputs and options: one line on stderr, exit 2, nothing at the output path.

And the cases that must give a correct result: NaN/inf pixels become recorded nodata, a narrowing
``--dtype`` scales with the factor recorded, ``--no-range-check`` fuses [0, 1] inputs in their scale.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
import rasterio
from affine import Affine

from .helpers import MS_T, PAN_T, make_product, scene, write_raster

FUSE = ("--method", "gsa", "--sensor", "none", "-q")  # no product metadata: the toolbox defaults


def _fuse(cli, prod, *extra, out=None):
    return cli("fuse", prod.pan, prod.ms, out or prod.out, *FUSE, *extra)


def _assert_refused(run, prod, *words, out=None):
    run.assert_error(*words)
    assert not (out or prod.out).exists()
    assert prod.leftovers() == []


# ----------------------------------------------------------------------------------------- grids and files
def _variant(name, tmp_path):
    pan, ms = scene()
    folder = tmp_path / name
    if name == "crs":
        return make_product(folder, ms_kw={"crs": "EPSG:32614"}), ("CRS",)
    if name == "ratio_not_integer":
        return make_product(folder, ms_kw={"transform": Affine(1.4, 0, 1000.0, 0, -1.4, 5000.0)}), ("integer",)
    if name == "ratio_wrong_sizes_no_georef":
        return make_product(folder, ms=ms[:, :15], pan_kw={"crs": None, "transform": Affine.identity()},
                            ms_kw={"crs": None, "transform": Affine.identity()}), ("ratio",)
    if name == "no_overlap":
        return make_product(folder, ms_kw={"transform": Affine(2.0, 0, 9000.0, 0, -2.0, 5000.0)}), ("overlap",)
    if name == "rotated":
        return make_product(folder, ms_kw={"transform": Affine(2.0, 0.1, 1000.0, 0.1, -2.0, 5000.0)}), ("rotated",)
    if name == "one_georeferenced":
        return make_product(folder, ms_kw={"crs": None, "transform": Affine.identity()}), ("georeferenced",)
    if name == "pan_has_bands":
        return make_product(folder, pan=np.concatenate([pan] * 3)), ("swap",)
    if name == "swapped":
        prod = make_product(folder)
        prod.pan, prod.ms = prod.ms, prod.pan
        return prod, ("swap",)
    if name == "flipped_ms_grid":
        return make_product(folder, ms_kw={"transform": Affine(-2.0, 0, 1032.0, 0, -2.0, 5000.0)}), ("multiple",)
    raise AssertionError(name)


@pytest.mark.parametrize("name", [
    "crs", "ratio_not_integer", "ratio_wrong_sizes_no_georef", "no_overlap", "rotated",
    "one_georeferenced", "pan_has_bands", "swapped", "flipped_ms_grid",
])
def test_grid_problems_are_one_line(cli, tmp_path, name):
    prod, words = _variant(name, tmp_path)
    _assert_refused(_fuse(cli, prod), prod, *words)


def _damage(path, how):
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "header":
        path.write_bytes(data[:4] + b"\xff" * 60 + data[64:])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "text":
        path.write_text("not a raster\n")


@pytest.mark.parametrize("which", ["pan", "ms"])
@pytest.mark.parametrize("how", ["truncated", "header", "empty", "text"])
def test_damaged_rasters_name_the_file(cli, product, which, how):
    path = getattr(product, which)
    if how == "truncated":  # a file large enough that the cut falls in the pixel data, not the header
        rng = np.random.default_rng(3)
        pan, ms = scene()
        arr = (pan if which == "pan" else ms) + rng.normal(0, 50, (pan if which == "pan" else ms).shape)
        write_raster(path, np.clip(arr, 0, 2047), transform=PAN_T if which == "pan" else MS_T, dtype="uint16")
    _damage(path, how)
    _assert_refused(_fuse(cli, product), product, path.name)


def test_missing_input(cli, product):
    product.pan.unlink()
    _assert_refused(_fuse(cli, product), product, "pan.tif", "does not exist")


# ----------------------------------------------------------------------------------------- output path
def test_output_is_an_input(cli, product):
    run = _fuse(cli, product, out=product.ms)
    run.assert_error("one of the inputs")
    assert product.leftovers() == []


def test_existing_output_needs_overwrite(cli, product):
    product.out.write_bytes(b"keep me")
    run = _fuse(cli, product)
    run.assert_error("exists", "--overwrite")
    assert product.out.read_bytes() == b"keep me"
    assert _fuse(cli, product, "--overwrite").code == 0
    with rasterio.open(product.out) as src:
        assert src.count == 4


def test_missing_output_folder(cli, product):
    out = product.folder / "nope" / "out.tif"
    run = _fuse(cli, product, out=out)
    run.assert_error("does not exist")
    assert not out.parent.exists()


def test_read_only_folder(cli, product, read_only_dir):
    out = read_only_dir / "out.tif"
    run = _fuse(cli, product, out=out)
    run.assert_error(str(read_only_dir))
    assert list(read_only_dir.iterdir()) == []


# ----------------------------------------------------------------------------------------- options
@pytest.mark.parametrize("args, words", [
    (("--tile", "0"), ("--tile", "16")),
    (("--tile", "-5"), ("--tile", "16")),
    (("--tile", "8"), ("--tile", "16")),
    (("--tile", "18"), ("multiple of", "ratio 4")),
    (("--tile", "abc"), ("--tile",)),
    (("--workers", "0"), ("--workers", "at least 1")),
    (("--workers", "-2"), ("--workers",)),
    (("--workers", "2", "--scheduler", "tcp://127.0.0.1:1"), ("--workers", "--scheduler")),
    (("--dtype", "complex64"), ("complex64",)),
    (("--dtype", "uint17"), ("uint17",)),
    (("--method", "nope"), ("nope",)),
    (("--model", "nope"), ("nope",)),
    (("--model", "lgpconv-net-wv3"), ("bands",)),  # an 8-band model on a 4-band MS
    (("--sensor", "NOPE"), ("NOPE",)),
    (("--model", "lightnet"), ("only one",)),  # with --method gsa from FUSE
])
def test_bad_options_before_any_work(cli, product, monkeypatch, args, words):
    import pansharpen.fusion.scene as scene_mod

    def no_work(*a, **k):  # the option checks come before reading pixels
        raise AssertionError("pixels were read before the options were checked")

    if args[0] in ("--tile", "--workers", "--dtype"):
        monkeypatch.setattr(scene_mod, "_scene_fill", no_work)
    fuse_args = list(FUSE)
    if args[0] == "--model" and args[1] != "lightnet":
        fuse_args = ["--sensor", "none", "-q"]
    if args[0] == "--sensor":
        fuse_args = ["--method", "gsa", "-q"]
    run = cli("fuse", product.pan, product.ms, product.out, *fuse_args, *args)
    _assert_refused(run, product, *words)


def test_smallest_tile_gives_the_default_result(cli, product, tmp_path):
    assert _fuse(cli, product, "--tile", "16", out=tmp_path / "a.tif").code == 0
    assert _fuse(cli, product, out=tmp_path / "b.tif").code == 0
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())


def test_workers_without_the_dask_extra_names_the_install(cli, product, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` now raises ImportError
    _assert_refused(_fuse(cli, product, "--workers", "2"), product, "pip install", "pansharpen[dask]")


# ----------------------------------------------------------------------------------------- values
def _ms_pan_dn():
    pan, ms = scene()
    return np.rint(pan), np.rint(ms)


@pytest.mark.parametrize("case, words", [
    ("ms_reflectance", ("MS", "reflectance", "--no-range-check")),
    ("both_reflectance", ("PAN", "MS", "reflectance")),
    ("pan_reflectance", ("PAN", "reflectance")),
    ("ms_16x", ("different scales",)),
    ("pan_16x", ("different scales",)),
])
def test_reflectance_and_scale_mismatch_are_refused(cli, tmp_path, case, words):
    pan, ms = _ms_pan_dn()
    pan_kw, ms_kw = {"dtype": "uint16"}, {"dtype": "uint16"}
    if case in ("ms_reflectance", "both_reflectance"):
        ms, ms_kw = ms / 2047, {"dtype": "float32"}
    if case in ("pan_reflectance", "both_reflectance"):
        pan, pan_kw = pan / 2047, {"dtype": "float32"}
    if case == "ms_16x":
        ms, ms_kw = ms * 16, {"dtype": "float32"}
    if case == "pan_16x":
        pan, pan_kw = pan * 16, {"dtype": "float32"}
    prod = make_product(tmp_path / case, pan=pan, ms=ms, pan_kw=pan_kw, ms_kw=ms_kw)
    _assert_refused(_fuse(cli, prod), prod, *words)


def test_no_range_check_fuses_unit_range_inputs_in_their_scale(cli, tmp_path):
    pan, ms = _ms_pan_dn()
    dn = make_product(tmp_path / "dn", pan=pan, ms=ms, dtype="float32")
    unit = make_product(tmp_path / "unit", pan=pan / 2047, ms=ms / 2047, dtype="float32")
    assert _fuse(cli, dn).code == 0
    assert _fuse(cli, unit, "--no-range-check").code == 0
    with rasterio.open(dn.out) as a, rasterio.open(unit.out) as b:
        # GSA is linear in the common scale: the [0, 1] result is the DN result / 2047
        np.testing.assert_allclose(b.read().astype(np.float64) * 2047, a.read(), rtol=1e-4, atol=0.05)


def test_no_range_check_does_not_feed_unit_range_inputs_to_a_network(cli, tmp_path):
    """A network divides by its card's normaliser and adds learned offsets: on [0, 1] inputs a bundled
    4-band LGPConv-Net gave an image correlated -0.42 with its DN result, exit 0. With or without
    --no-range-check it is refused in one line naming the way out; a classical method still fuses."""
    pan, ms = _ms_pan_dn()
    unit = make_product(tmp_path / "unit", pan=pan / 2047, ms=ms / 2047, dtype="float32")
    for extra in ((), ("--no-range-check",)):
        run = cli("fuse", unit.pan, unit.ms, unit.out, "--model", "lgpconv-net.vhr-4band", "--sensor", "QB", "-q",
                  *extra)
        _assert_refused(run, unit, "reflectance", "classical --method")
        assert "pass --no-range-check" not in run.err
    assert _fuse(cli, unit, "--no-range-check").code == 0


@pytest.mark.parametrize("where", ["ms_nan", "ms_inf", "pan_nan", "pan_-inf"])
@pytest.mark.parametrize("dtype", [None, "uint16"])
def test_nonfinite_pixels_become_recorded_nodata(cli, tmp_path, where, dtype):
    pan, ms = _ms_pan_dn()
    value = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}[where.split("_")[1]]
    if where.startswith("ms"):
        ms[:, 5:7, 9:11] = value
        expected = np.zeros((64, 64), bool)
        expected[20:28, 36:44] = True
    else:
        pan[0, 10:13, 30:33] = value
        expected = np.zeros((64, 64), bool)
        expected[10:13, 30:33] = True
    prod = make_product(tmp_path / where, pan=pan, ms=ms, dtype="float32")
    extra = ("--dtype", dtype) if dtype else ()
    assert _fuse(cli, prod, *extra).code == 0
    with rasterio.open(prod.out) as src:
        out = src.read()
        nodata = src.nodata
    assert nodata is not None
    bad = np.isnan(out).any(0) if np.isnan(nodata) else (out == nodata).any(0)
    np.testing.assert_array_equal(bad, expected)
    assert np.isfinite(out[:, ~expected]).all()


def test_finite_float_inputs_get_no_nodata_tag(cli, tmp_path):
    pan, ms = _ms_pan_dn()
    prod = make_product(tmp_path / "f", pan=pan, ms=ms, dtype="float32")
    assert _fuse(cli, prod).code == 0
    with rasterio.open(prod.out) as src:
        assert src.nodata is None


def test_narrowing_dtype_scales_and_records_the_factor(cli, product, tmp_path):
    wide, narrow = tmp_path / "u16.tif", tmp_path / "u8.tif"
    assert _fuse(cli, product, out=wide).code == 0
    run = _fuse(cli, product, "--dtype", "uint8", out=narrow)
    assert run.code == 0 and "pansharpen: warning: uint8 cannot hold" in run.err
    with rasterio.open(wide) as a, rasterio.open(narrow) as b:
        ref, small, scale = a.read().astype(np.float64), b.read().astype(np.float64), b.scales[0]
    assert scale > 1 and (small == 255).mean() < 0.05  # not clamped: the range is used
    np.testing.assert_allclose(small * scale, ref, atol=scale / 2 + 1)


def test_widening_dtype_keeps_values(cli, product, tmp_path):
    assert _fuse(cli, product, out=tmp_path / "a.tif").code == 0
    assert _fuse(cli, product, "--dtype", "float32", out=tmp_path / "b.tif").code == 0
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        assert b.scales[0] == 1.0
        np.testing.assert_allclose(b.read(), a.read(), atol=0.5)
