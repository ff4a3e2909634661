"""Training-set checks: a model against the samples it is to be trained on."""
from __future__ import annotations

import pytest

from pansharpen.datasets.training_sets import SetInfo, check_model_for_set
from pansharpen.errors import ModelError, ShapeError
from pansharpen.models import create


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
