"""`pansharpen evaluate` on bad inputs: one line, exit 2; undefined indices come with their reason."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from .helpers import PAN_T, make_product, scene, write_raster


def _npy(path, arr):
    np.save(path, arr)
    return path


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    ref = rng.uniform(200, 1500, (32, 32, 4))
    fused = ref + rng.normal(0, 20, ref.shape)
    return tmp_path, _npy(tmp_path / "ref.npy", ref), _npy(tmp_path / "fused.npy", fused), ref


def _bad_fused(kind, folder, ref):
    if kind == "unit_range":
        return _npy(folder / "f.npy", (ref / 2047).astype(np.float32)), ("normalised",)
    if kind == "nan":
        bad = ref.copy()
        bad[3, 3, 1] = np.nan
        return _npy(folder / "f.npy", bad), ("NaN",)
    if kind == "bands":
        return _npy(folder / "f.npy", ref[..., :3]), ("band",)
    if kind == "size":
        return _npy(folder / "f.npy", ref[:16]), ("16 x 32",)
    if kind == "pickle":
        path = folder / "f.npy"
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        return path, ("f.npy",)
    if kind == "unknown_type":
        path = folder / "f.xyz"
        path.write_text("x")
        return path, ("unknown file type",)
    if kind == "missing":
        return folder / "nope.npy", ("no such file",)
    if kind == "text_as_tif":
        path = folder / "f.tif"
        path.write_text("not a tiff")
        return path, ("f.tif",)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["unit_range", "nan", "bands", "size", "pickle", "unknown_type", "missing",
                                  "text_as_tif"])
def test_reduced_resolution_bad_fused(cli, images, kind):
    folder, ref, _, arr = images
    fused, words = _bad_fused(kind, folder, arr)
    cli("evaluate", "--reference", ref, "--fused", fused).assert_error(*words)


@pytest.mark.parametrize("args, words", [
    (("--ms", "M", "--reference", "R"), ("not both",)),
    (("--ms", "M"), ("both --ms and --pan",)),
    (("--ms", "M", "--pan", "P", "--crop", "4"), ("--crop",)),
    ((), ("--reference",)),
])
def test_inconsistent_options(cli, images, args, words):
    folder, ref, fused, _ = images
    cli("evaluate", "--fused", fused, *args).assert_error(*words)


def test_malicious_pickle_never_runs(cli, tmp_path, images):
    """A .npy holding a pickle whose loading would run code is refused, and the code does not run."""
    marker = tmp_path / "owned"

    class Evil:
        def __reduce__(self):
            import os

            return os.system, (f"touch {marker}",)

    path = tmp_path / "evil.npy"
    with open(path, "wb") as fh:  # a valid .npy header for an object array, then the pickle
        np.lib.format.write_array_header_1_0(fh, {"descr": "|O", "fortran_order": False, "shape": (1,)})
        pickle.dump(np.array([Evil()], dtype=object), fh)
    folder, ref, _, _ = images
    cli("evaluate", "--reference", ref, "--fused", path).assert_error("evil.npy")
    assert not marker.exists()


def _full_product(tmp_path, fused):
    prod = make_product(tmp_path / "p")
    out = write_raster(tmp_path / "p" / "fused.tif", fused, transform=PAN_T, dtype="float32")
    return prod, out


def test_full_resolution_inputs_on_different_scales_are_refused(cli, tmp_path):
    pan, ms = scene()
    prod = make_product(tmp_path / "p", ms=ms / 2047 * 10, ms_kw={"dtype": "float32"})  # MS 0..7, PAN in DN
    fused = write_raster(tmp_path / "p" / "fused.tif", np.repeat(np.repeat(ms, 4, 1), 4, 2), dtype="float32")
    cli("evaluate", "--ms", prod.ms, "--pan", prod.pan, "--fused", fused, "--sensor", "none").assert_error(
        "different scales", "ms", "pan")


def test_full_resolution_fused_off_scale_is_measured_with_a_warning(cli, tmp_path):
    """The fused image is what is measured: a DN/16 one gets (bad) numbers and a warning saying why."""
    pan, ms = scene()
    prod, fused = _full_product(tmp_path, np.repeat(np.repeat(ms, 4, 1), 4, 2) / 16)
    run = cli("evaluate", "--ms", prod.ms, "--pan", prod.pan, "--fused", fused, "--sensor", "none", "--json")
    assert run.code == 0
    assert any(ln.startswith("pansharpen: warning: fused and ms are on different scales") for ln in run.err.splitlines())


def test_full_resolution_undefined_index_says_why(cli, tmp_path):
    """Blocks flat in two bands (a saturated, out-of-range fused image) make D_lambda 0/0, as in the
    reference toolbox: the value stays null, and a warning says why."""
    pan, ms = scene()
    fused = np.repeat(np.repeat(ms, 4, 1), 4, 2) + np.random.default_rng(1).normal(0, 20, (4, 64, 64))
    fused[:, :32, :32] = 2047.0  # one block saturated in every band
    prod, path = _full_product(tmp_path, fused)
    run = cli("evaluate", "--ms", prod.ms, "--pan", prod.pan, "--fused", path, "--sensor", "none", "--json")
    assert run.code == 0
    values = json.loads(run.out)
    assert values["D_lambda"] is None and values["QNR"] is None and values["D_s"] is not None
    warnings = [ln for ln in run.err.splitlines() if "undefined" in ln]
    assert len(warnings) == 1 and warnings[0].startswith("pansharpen: warning:")
    assert "D_lambda" in warnings[0] and "1 of 4 blocks of the fused" in warnings[0] and "flat" in warnings[0]


@pytest.mark.parametrize("args, words", [
    (("--ratio", "0"), ("ratio",)),
    (("--ratio", "-4"), ("ratio",)),
    (("--crop", "-3"), ("crop",)),
    (("--crop", "40"), ("crop=40",)),
    (("--max-value", "-1"), ("max_value",)),
])
def test_bad_option_values(cli, images, args, words):
    folder, ref, fused, _ = images
    cli("evaluate", "--reference", ref, "--fused", fused, *args).assert_error(*words)
