"""PanCollection readers/writers: layouts, key conventions, laziness and bad files."""
from __future__ import annotations

import os
import h5py
import numpy as np
import pytest
import scipy.io

from pansharpen.datasets.training_sets import PanCollectionDataset  # the laziness test reads through it
from pansharpen.errors import DataFormatError, ShapeError, ValueRangeError
from pansharpen.io.pancollection import (
    PanCollectionWriter,
    open_pancollection,
    write_pancollection,
)


def _arrays(n=3, c=4, size=16, ratio=4, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "gt": rng.integers(0, 2048, (n, c, size, size)).astype(np.float64),
        "ms": rng.integers(0, 2048, (n, c, size // ratio, size // ratio)).astype(np.float64),
        "lms": rng.integers(0, 2048, (n, c, size, size)).astype(np.float64),
        "pan": rng.integers(0, 2048, (n, 1, size, size)).astype(np.float64),
    }


def _write_h5(path, arrays, **attrs):
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f[k] = v
        for k, v in attrs.items():
            f.attrs[k] = v


def test_h5_lower_case_roundtrip_and_lazy_indexing(tmp_path):
    arrays = _arrays()
    path = tmp_path / "set.h5"
    _write_h5(path, arrays, sensor="WV3")
    with open_pancollection(path) as f:
        assert f.format == "h5"
        assert f.keys == ["gt", "ms", "lms", "pan"]
        assert len(f) == 3
        assert f.attrs["sensor"] == "WV3"
        assert f.shape("ms") == (3, 4, 4, 4)
        np.testing.assert_array_equal(f.read("gt", 1), arrays["gt"][1])
        np.testing.assert_array_equal(f.read("pan", slice(1, 3)), arrays["pan"][1:3])
        np.testing.assert_array_equal(f.read("lms", [2, 0, 2]), arrays["lms"][[2, 0, 2]])
        np.testing.assert_array_equal(f.read("ms"), arrays["ms"])
        assert f.read("gt", 0).dtype == np.float64
        sample = f.sample(2)
        assert set(sample) == {"gt", "ms", "lms", "pan"}
        np.testing.assert_array_equal(sample["ms"], arrays["ms"][2])


def test_h5_upper_case_keys_are_canonicalised(tmp_path):
    arrays = {k.upper(): v for k, v in _arrays(c=6).items()}
    path = tmp_path / "hyper.h5"
    _write_h5(path, arrays)
    with open_pancollection(path) as f:
        assert f.keys == ["gt", "ms", "lms", "pan"]
        np.testing.assert_array_equal(f.read("gt", 0), arrays["GT"][0])
        np.testing.assert_array_equal(f.read("PAN", 1), arrays["PAN"][1])


def test_cave_style_keys(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "cave.h5"
    _write_h5(path, {"GT": rng.random((2, 31, 16, 16)), "LRHSI": rng.random((2, 31, 4, 4)),
                     "HRMSI": rng.random((2, 3, 16, 16))})
    with open_pancollection(path) as f:
        assert f.keys == ["gt", "ms", "pan"]
        assert f.shape("pan") == (2, 3, 16, 16)
    rgb = tmp_path / "rgb.h5"
    _write_h5(rgb, {"GT": rng.random((1, 31, 16, 16)), "RGB": rng.random((1, 3, 16, 16))})
    with open_pancollection(rgb) as f:
        assert f.keys == ["gt", "pan"]


def test_h5_pan_stored_without_channel_axis(tmp_path):
    arrays = _arrays()
    arrays["pan"] = arrays["pan"][:, 0]
    path = tmp_path / "set.h5"
    _write_h5(path, arrays)
    with open_pancollection(path) as f:
        assert f.shape("pan") == (3, 1, 16, 16)
        np.testing.assert_array_equal(f.read("pan", 1)[0], arrays["pan"][1])


def test_extra_array_listed_by_lower_case_name(tmp_path):
    arrays = _arrays()
    arrays["SR"] = arrays["gt"] + 1
    path = tmp_path / "out.h5"
    _write_h5(path, arrays)
    with open_pancollection(path) as f:
        assert "sr" in f.keys
        np.testing.assert_array_equal(f.read("sr", 0), arrays["gt"][0] + 1)


def test_mat_v5_hwc_layout(tmp_path):
    a = _arrays(n=1)
    path = tmp_path / "img.mat"
    scipy.io.savemat(path, {"gt": a["gt"][0].transpose(1, 2, 0), "ms": a["ms"][0].transpose(1, 2, 0),
                            "lms": a["lms"][0].transpose(1, 2, 0), "pan": a["pan"][0, 0]})
    with open_pancollection(path) as f:
        assert f.format == "mat-v5"
        assert len(f) == 1
        assert f.shape("gt") == (1, 4, 16, 16)
        for k in ("gt", "ms", "lms", "pan"):
            np.testing.assert_array_equal(f.read(k), a[k])


def test_mat_v5_four_dimensional_is_hwcn(tmp_path):
    a = _arrays(n=2)
    path = tmp_path / "many.mat"
    scipy.io.savemat(path, {"gt": a["gt"].transpose(2, 3, 1, 0)})
    with open_pancollection(path) as f:
        assert len(f) == 2
        np.testing.assert_array_equal(f.read("gt", 1), a["gt"][1])


def test_mat_v73_reversed_axes(tmp_path):
    # MATLAB writes column-major: an H x W x C array appears in HDF5 as C x W x H
    a = _arrays(n=1)
    path = tmp_path / "img73.mat"
    with h5py.File(path, "w", userblock_size=512) as f:
        f["GT"] = a["gt"][0].transpose(1, 2, 0).T
        f["MS"] = a["ms"][0].transpose(1, 2, 0).T
        f["PAN"] = a["pan"][0, 0].T
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file")
    with open_pancollection(path) as f:
        assert f.format == "mat-v7.3"
        np.testing.assert_array_equal(f.read("gt", 0), a["gt"][0])
        np.testing.assert_array_equal(f.read("ms", 0), a["ms"][0])
        np.testing.assert_array_equal(f.read("pan", 0), a["pan"][0])


def test_writer_roundtrip_attrs_and_atomicity(tmp_path):
    a = _arrays()
    path = tmp_path / "w.h5"
    attrs = {"sensor": "WV3", "ratio": 4, "sources": [{"path": "x.tif", "bytes": 10}]}
    write_pancollection(path, a, attrs, compression="gzip")
    assert [p.name for p in tmp_path.iterdir()] == ["w.h5"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600
    with open_pancollection(path) as f:
        assert f.attrs["sensor"] == "WV3" and f.attrs["ratio"] == 4
        assert f.attrs["sources"] == [{"path": "x.tif", "bytes": 10}]
        assert f.attrs["samples"] == 3
        for k in a:
            np.testing.assert_array_equal(f.read(k), a[k])


def test_incremental_writer_appends_and_cleans_up_on_error(tmp_path):
    a = _arrays(n=4)
    shapes = {k: v.shape[1:] for k, v in a.items()}
    path = tmp_path / "inc.h5"
    with PanCollectionWriter(path, shapes, {"seed": 0}) as w:
        w.append({k: v[:1] for k, v in a.items()})
        w.append({k: v[1:] for k, v in a.items()})
    with open_pancollection(path) as f:
        assert len(f) == 4
        np.testing.assert_array_equal(f.read("gt"), a["gt"])

    broken = tmp_path / "broken.h5"
    with pytest.raises(RuntimeError):
        with PanCollectionWriter(broken, shapes) as w:
            w.append({k: v[:1] for k, v in a.items()})
            raise RuntimeError("interrupted")
    assert not broken.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inc.h5"]


def test_writer_rejects_bad_batches(tmp_path):
    a = _arrays()
    with pytest.raises(ValueRangeError, match="NaN"):
        bad = dict(a, gt=a["gt"].copy())
        bad["gt"][0, 0, 0, 0] = np.nan
        write_pancollection(tmp_path / "nan.h5", bad, {})
    with pytest.raises(ShapeError, match="different numbers of samples"):
        write_pancollection(tmp_path / "n.h5", dict(a, ms=a["ms"][:2]), {})
    with pytest.raises(ShapeError, match="N x C x H x W"):
        write_pancollection(tmp_path / "d.h5", {"gt": a["gt"][0]}, {})
    with pytest.raises(ValueRangeError, match="dtype"):
        write_pancollection(tmp_path / "s.h5", {"gt": np.array([["a"]])}, {})
    assert list(tmp_path.iterdir()) == []


# -- bad files -------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(DataFormatError, match="no such file"):
        open_pancollection(tmp_path / "nope.h5")


def test_truncated_h5(tmp_path):
    path = tmp_path / "set.h5"
    write_pancollection(path, _arrays(n=8, size=32), {})
    data = path.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match="truncated or corrupt"):
        with open_pancollection(cut) as f:
            for i in range(len(f)):
                f.sample(i)


def test_garbage_file(tmp_path):
    path = tmp_path / "junk.h5"
    path.write_bytes(b"not an hdf5 file" * 10)
    with pytest.raises(DataFormatError, match="not an HDF5 file"):
        open_pancollection(path)
    mat = tmp_path / "junk.mat"
    mat.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(DataFormatError, match="MATLAB"):
        open_pancollection(mat)


def test_inconsistent_sample_counts(tmp_path):
    a = _arrays()
    a["pan"] = a["pan"][:2]
    path = tmp_path / "bad.h5"
    _write_h5(path, a)
    with pytest.raises(DataFormatError, match="different numbers of samples.*pan: 2"):
        open_pancollection(path)


def test_inconsistent_sizes_and_bands(tmp_path):
    a = _arrays()
    _write_h5(tmp_path / "size.h5", dict(a, pan=a["pan"][..., :8]))
    with pytest.raises(DataFormatError, match="same H x W"):
        open_pancollection(tmp_path / "size.h5")
    _write_h5(tmp_path / "bands.h5", dict(a, lms=a["lms"][:, :3]))
    with pytest.raises(DataFormatError, match="same band count"):
        open_pancollection(tmp_path / "bands.h5")


def test_missing_key_and_non_numeric_dataset(tmp_path):
    a = _arrays()
    path = tmp_path / "set.h5"
    _write_h5(path, {"ms": a["ms"], "pan": a["pan"]})
    with open_pancollection(path) as f:
        with pytest.raises(DataFormatError, match="'gt' is missing.*ms, pan"):
            f.read("gt", 0)
    strings = tmp_path / "str.h5"
    with h5py.File(strings, "w") as f:
        f.create_dataset("gt", data=np.array([[["a", "b"]]], dtype="S1"))
    with pytest.raises(DataFormatError, match="numeric"):
        open_pancollection(strings)


def test_empty_h5(tmp_path):
    path = tmp_path / "empty.h5"
    with h5py.File(path, "w"):
        pass
    with pytest.raises(DataFormatError, match="no image arrays"):
        open_pancollection(path)


def test_large_file_is_read_lazily(tmp_path):
    # a 5 GB (virtual: unwritten chunks take no disk) training file: opening it and reading
    # samples must not load the datasets
    import tracemalloc

    path = tmp_path / "big.h5"
    n = 20000
    with h5py.File(path, "w") as f:
        for key, shape in {"gt": (8, 64, 64), "ms": (8, 16, 16), "lms": (8, 64, 64), "pan": (1, 64, 64)}.items():
            f.create_dataset(key, shape=(n, *shape), dtype="f8", chunks=(1, *shape), fillvalue=7.0)
    assert path.stat().st_size < 10_000_000
    tracemalloc.start()
    try:
        with open_pancollection(path) as f:
            assert len(f) == n
            sample = f.sample(n - 1)
            batch = f.read("gt", [5, 19999, 3])
        ds = PanCollectionDataset(path)
        item = ds[123]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sample["gt"].shape == (8, 64, 64) and (sample["gt"] == 7.0).all()
    assert batch.shape == (3, 8, 64, 64) and item["lms"].shape == (8, 64, 64)
    assert peak < 20_000_000  # a handful of samples (260 kB each), not 5 GB


def test_metadata_variables_beside_images_are_ignored(tmp_path):
    a = _arrays(n=2)
    # v5: a scalar ratio, a band-name char array and a vector beside N images H x W x C x N
    v5 = tmp_path / "meta.mat"
    scipy.io.savemat(v5, {"gt": a["gt"].transpose(2, 3, 1, 0), "ratio": 4.0, "sensor": "WV3",
                          "gains": np.array([0.3, 0.3, 0.3, 0.3])})
    with open_pancollection(v5) as f:
        assert f.keys == ["gt"] and len(f) == 2
    # v7.3: MATLAB stores a char array as uint16 with MATLAB_class "char"
    v73 = tmp_path / "meta73.mat"
    with h5py.File(v73, "w") as f:
        f["GT"] = a["gt"][0].transpose(1, 2, 0).T
        f["ratio"] = np.array([[4.0]])
        f.create_dataset("sensor", data=np.array([[87], [86], [51]], dtype=np.uint16))
        f["sensor"].attrs["MATLAB_class"] = np.bytes_("char")
    with open_pancollection(v73) as f:
        assert f.keys == ["gt"] and len(f) == 1
    # h5: a string dataset of notes
    h5 = tmp_path / "meta.h5"
    _write_h5(h5, a)
    with h5py.File(h5, "a") as f:
        f["notes"] = np.array([b"simulated"])
    with open_pancollection(h5) as f:
        assert f.keys == ["gt", "ms", "lms", "pan"]
