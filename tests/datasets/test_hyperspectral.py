"""Hyperspectral data sets: cubes, HS/HISR sets, the CLI,
and tiled Ada3D fusion of a hyperspectral GeoTIFF pair through the `fuse` path."""
from __future__ import annotations

import importlib.util

import h5py
import numpy as np
import pytest
import torch

from pansharpen.errors import ModelError, ShapeError, ValueRangeError
from pansharpen.models.registry import complete_card
from pansharpen.datasets.hyperspectral import interpolate_spectra, write_hs_sets


def _pair(bands, size=48, seed=0, noise=40.0):
    rng = np.random.default_rng(seed)
    ref = rng.uniform(50, 2000, (bands, 1, 1)) * (1 + 0.3 * rng.standard_normal((1, size, size)))
    ref = np.clip(ref, 0, 2047)
    return ref, np.clip(ref + rng.normal(0, noise, ref.shape), 0, 2047)



# -------------------------------------------------------------------------------------- cubes
def test_interpolation_keeps_samples_and_linear_spectra():
    rng = np.random.default_rng(1)
    centres = np.array([425.0, 480.0, 545.0, 605.0, 660.0, 725.0, 832.5, 950.0])
    bands = rng.uniform(0, 2047, (8, 5, 5))
    np.testing.assert_allclose(interpolate_spectra(bands, centres, centres), bands, rtol=1e-12)
    linear = 3.0 + 2.0 * centres[:, None, None] * np.ones((1, 5, 5))
    w = np.array([400.0, 500.0, 700.0, 1040.0])
    expected = 3.0 + 2.0 * np.clip(w, 425.0, 950.0)  # PCHIP is exact on lines; flat beyond the ends
    np.testing.assert_allclose(interpolate_spectra(linear, centres, w)[:, 0, 0], expected, rtol=1e-12)
    out = interpolate_spectra(bands, centres, np.linspace(400, 1040, 33))
    assert out.min() >= bands.min() - 1e-9 and out.max() <= bands.max() + 1e-9  # no overshoot
    with pytest.raises(ShapeError):
        interpolate_spectra(bands, centres[:7], w)


@pytest.mark.skipif(importlib.util.find_spec("dgsamples") is None, reason="dgsamples is not installed")
def test_wv3_cube_from_the_sample_product():
    import rasterio

    from pansharpen.io.samples import sample_product
    from pansharpen.datasets.hyperspectral import wv3_cube

    cube, wavelengths, info = wv3_cube(n_bands=3, span=(425.0, 950.0))
    with rasterio.open(sample_product("WV3")[1]) as ds:
        coastal, nir2 = ds.read(1).astype(float), ds.read(8).astype(float)
    assert cube.shape == (3, 835, 835) and info["bands_from"] == "8 VNIR"
    np.testing.assert_allclose(cube[0], coastal)
    np.testing.assert_allclose(cube[-1], nir2)


# --------------------------------------------------------------------------------------- sets
def _cube(bands=10, size=104, seed=2):
    rng = np.random.default_rng(seed)
    return rng.uniform(100, 1500, (bands, 1, 1)) * (1 + 0.2 * rng.standard_normal((1, size, size)))


def test_hs_sets_layout_and_disjoint_regions(tmp_path):
    from pansharpen.datasets.training_sets import PanCollectionDataset

    wl = np.linspace(420, 900, 10)
    paths = write_hs_sets(_cube(), wl, tmp_path, task="hs", patch=8, stride=8, test_size=32, valid_patches=3)
    with h5py.File(paths["train"]) as f:
        assert sorted(f.keys()) == ["GT", "LMS", "MS", "PAN"]
        assert f["GT"].shape[1:] == (10, 8, 8) and f["MS"].shape[1:] == (10, 2, 2) and f["PAN"].shape[1:] == (1, 8, 8)
        train_rows = f.attrs["region_rows_cols"]
        assert f.attrs["task"] == "hs" and f.attrs["normaliser"] == 2047.0
    with h5py.File(paths["test"]) as f:
        assert f["GT"].shape == (2, 10, 32, 32)  # 104 -> three 32-blocks across: 1 valid, 2 test
        test_rows = f.attrs["region_rows_cols"]
    with h5py.File(paths["valid"]) as f:
        assert f["GT"].shape[0] == 3
    assert np.asarray([int(v) for v in str(train_rows).strip("[]").split(",")])[1] < int(str(test_rows).strip("[]").split(",")[0])
    sample = PanCollectionDataset(paths["train"])[0]
    assert sample["gt"].shape == (10, 8, 8) and float(sample["gt"].max()) < 1.0


def test_hisr_sets(tmp_path):
    wl = np.linspace(420, 700, 10)
    paths = write_hs_sets(_cube(), wl, tmp_path, task="hisr", patch=8, stride=16, test_size=32)
    with h5py.File(paths["valid"]) as f:
        assert sorted(f.keys()) == ["GT", "LMS", "LRHSI", "RGB"] and f["RGB"].shape[1] == 3


def test_sets_bad_input(tmp_path):
    wl = np.linspace(420, 900, 10)
    with pytest.raises(ShapeError, match="multiples of ratio"):
        write_hs_sets(_cube(), wl, tmp_path, patch=6, test_size=30)
    with pytest.raises(ShapeError, match="too small"):
        write_hs_sets(_cube(size=40), wl, tmp_path, patch=8, test_size=32)
    with pytest.raises(ValueRangeError, match="task"):
        write_hs_sets(_cube(), wl, tmp_path, task="pan", patch=8, test_size=32)
    with pytest.raises(ShapeError, match="the cube has 10 bands"):
        write_hs_sets(_cube(), wl, tmp_path, patch=8, test_size=32, response=np.ones((1, 8)))


# ---------------------------------------------------------------------------------------- CLI
def _write_tif(path, array, res, driver="GTiff"):
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver=driver, width=array.shape[2], height=array.shape[1], count=array.shape[0],
                       dtype="float32", crs="EPSG:32613", transform=from_origin(487000, 4443000, res, res)) as ds:
        ds.write(array.astype(np.float32))


def test_simulate_hs_command_on_an_envi_cube(tmp_path):
    from typer.testing import CliRunner

    import pansharpen.cli.hyperspectral_cmd  # noqa: F401  (registers the command)
    from pansharpen.cli.app import app

    _write_tif(tmp_path / "cube.img", _cube(), 1.0, driver="ENVI")
    runner = CliRunner()
    args = ["simulate-hs", str(tmp_path / "cube.img"), "--out", str(tmp_path / "sets"), "--patch", "8",
            "--stride", "8", "--test-size", "32", "--task", "hisr", "--wavelengths", ",".join(["500"] * 10)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "train" in result.output and (tmp_path / "sets" / "test.h5").is_file()
    bad = runner.invoke(app, [*args[:-1], "500,600", "--overwrite"])
    assert isinstance(bad.exception, ShapeError) and "2 centres" in str(bad.exception)
    bad = runner.invoke(app, [*args, "--span", "900,400", "--overwrite"])
    assert isinstance(bad.exception, ValueRangeError)


# ------------------------------------------------------------------------------------- fusion
def _small_ada3d(bands):
    from pansharpen.models import create

    torch.manual_seed(0)
    return create("ada3d-hs", bands=bands, cube_channels=2, guide_channels=8, stages=1)


def test_tiled_ada3d_fusion_of_a_hyperspectral_geotiff_pair(tmp_path):
    import rasterio

    from pansharpen.fusion.fuse import fuse

    model = _small_ada3d(6)
    assert model.card.global_pooling
    rng = np.random.default_rng(0)
    ms = rng.uniform(100, 1500, (6, 16, 16))
    pan = rng.uniform(100, 1500, (1, 64, 64))
    _write_tif(tmp_path / "ms.tif", ms, 1.2)
    _write_tif(tmp_path / "pan.tif", pan, 0.3)
    ms, pan = ms.astype(np.float32).astype(np.float64), pan.astype(np.float32).astype(np.float64)
    out = fuse(tmp_path / "pan.tif", tmp_path / "ms.tif", tmp_path / "fused.tif", model=model, tile=32)
    with rasterio.open(out) as ds:
        tiled = ds.read().astype(np.float64)
    n = model.card.normaliser
    as_t = lambda a: torch.from_numpy(a[None] / n).float()  # noqa: E731
    with torch.no_grad():
        stats = model.global_stats(as_t(ms), as_t(pan))
        whole = model(as_t(ms), as_t(pan))[0].double().numpy() * n
        # the tiler mirrors the scene at its border; the same whole-image run with scene statistics:
        h = 64
        msp = np.pad(ms, ((0, 0), (h // 4, h // 4), (h // 4, h // 4)), mode="symmetric")
        panp = np.pad(pan, ((0, 0), (h, h), (h, h)), mode="symmetric")
        mirrored = model(as_t(msp), as_t(panp), stats=stats)[0].double().numpy()[:, h:-h, h:-h] * n
    assert tiled.shape == (6, 64, 64)
    # the writer clips to >= 0 (an untrained net gives a few negative values)
    np.testing.assert_allclose(tiled, np.clip(mirrored, 0, None), rtol=1e-5, atol=1e-3)
    rf = complete_card(model).receptive_field + 4  # + bicubic reach; inside, the border convention does not matter
    inner = (slice(None), slice(rf, -rf), slice(rf, -rf))
    np.testing.assert_allclose(tiled[inner], np.clip(whole, 0, None)[inner], rtol=1e-5, atol=1e-3)


def test_fuse_refuses_a_model_for_other_band_counts(tmp_path):
    from pansharpen.fusion.fuse import fuse

    rng = np.random.default_rng(0)
    _write_tif(tmp_path / "ms.tif", rng.uniform(100, 1500, (5, 8, 8)), 1.2)
    _write_tif(tmp_path / "pan.tif", rng.uniform(100, 1500, (1, 32, 32)), 0.3)
    with pytest.raises(ModelError, match="6 bands but the MS has 5"):
        fuse(tmp_path / "pan.tif", tmp_path / "ms.tif", tmp_path / "f.tif", model=_small_ada3d(6))


@pytest.mark.parametrize("task, arch", [("hs", "ada3d-hs"), ("hisr", "ada3d-hisr")])
def test_written_sets_train_with_the_train_pipeline(tmp_path, task, arch):
    from pansharpen.training.train import train

    paths = write_hs_sets(_cube(), np.linspace(420, 700, 10), tmp_path, task=task, patch=8, stride=16, test_size=32,
                          valid_patches=2)
    result = train(arch, paths["valid"], epochs=1, batch_size=2, quiet=True, validate_every=0,
                   model_options={"cube_channels": 2, "guide_channels": 8, "stages": 1})
    assert result.steps == 1 and result.model.card.bands == 10
    assert result.model.card.guide_bands == (3 if task == "hisr" else 1)
