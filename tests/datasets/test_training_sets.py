"""Training sets: a model against the samples it is to be trained on; PanCollection files as a Dataset."""
from __future__ import annotations

import pytest
import torch

from pansharpen.datasets.training_sets import PanCollectionDataset, SetInfo, check_model_for_set
from pansharpen.errors import DataFormatError, ModelError, ShapeError
from pansharpen.io.pancollection import write_pancollection
from pansharpen.models import create

from ..io.test_pancollection import _arrays as _pancollection_arrays


def _info(ms=(4, 16, 16), pan=(1, 64, 64)):
    return SetInfo("toy.h5", 3, {"gt": (ms[0], pan[1], pan[2]), "ms": ms, "lms": (ms[0], pan[1], pan[2]), "pan": pan})


def test_model_for_set_accepts_matching_samples_and_names_each_mismatch():
    model = create("lightnet", bands=4)
    check_model_for_set(model, _info())
    with pytest.raises(ModelError, match="bands=8"):
        check_model_for_set(model, _info(ms=(8, 16, 16)))
    with pytest.raises(ModelError, match="guide"):
        check_model_for_set(model, _info(pan=(3, 64, 64)))
    with pytest.raises(ShapeError, match="ratio 4"):
        check_model_for_set(model, _info(pan=(1, 32, 32)))


def test_dataset_returns_normalised_float32(tmp_path):
    a = _pancollection_arrays()
    path = tmp_path / "set.h5"
    write_pancollection(path, a, {})
    ds = PanCollectionDataset(path, normaliser=2047.0)
    assert len(ds) == 3
    item = ds[1]
    assert set(item) == {"gt", "ms", "lms", "pan"}
    assert item["gt"].dtype == torch.float32 and item["gt"].shape == (4, 16, 16)
    torch.testing.assert_close(item["pan"], torch.from_numpy(a["pan"][1] / 2047.0).float())
    loader = torch.utils.data.DataLoader(ds, batch_size=2)
    batch = next(iter(loader))
    assert batch["ms"].shape == (2, 4, 4, 4)
    with pytest.raises(IndexError):
        ds[3]


def test_dataset_missing_key_names_present_keys(tmp_path):
    a = _pancollection_arrays()
    del a["gt"]
    path = tmp_path / "full.h5"
    write_pancollection(path, a, {})
    with pytest.raises(DataFormatError, match="gt.*missing.*ms, lms, pan"):
        PanCollectionDataset(path)
    ds = PanCollectionDataset(path, keys=("ms", "pan"))
    assert set(ds[0]) == {"ms", "pan"}


def test_dataset_works_in_worker_processes(tmp_path):
    a = _pancollection_arrays(n=4)
    path = tmp_path / "set.h5"
    write_pancollection(path, a, {})
    ds = PanCollectionDataset(path, keys=("gt",))
    ds[0]  # open a handle in the parent first: workers must not reuse it
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=2)
    got = torch.cat([b["gt"] for b in loader])
    torch.testing.assert_close(got, torch.from_numpy(a["gt"] / 2047.0).float())
