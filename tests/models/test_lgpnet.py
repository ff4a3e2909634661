"""LGPConv-Net: sizes of the paper's variants, reference vectors, 650.pth refusal, fold, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pansharpen.errors import ModelError, ShapeError, ValueRangeError
from pansharpen.models import create, load, save
from pansharpen.models.checkpoints import import_checkpoint
from pansharpen.models.lgpnet import LGPConvNet, import_lgpconv_net, load_authors_state_dict
from pansharpen.models.registry import complete_card

from .reference_cases import load_case, run_eval


def test_parameter_count_macs_and_receptive_field():
    model = create("lgpconv-net")
    assert model.card.params == 26516  # model.py; paper "27K"
    # 0.1058 GMAC of convolutions at 64 x 64 (seed-implementations 2.4), paper "0.112 GFLOPs"
    assert complete_card(model).macs_per_pixel * 64 * 64 == pytest.approx(0.1058e9, rel=1e-3)
    assert complete_card(model).receptive_field == 26  # 13 layers of 5x5 effective extent
    assert sum(p.numel() for p in create("lgpconv-net", bands=4).parameters()) == 26068


@pytest.mark.parametrize(
    "name,options,published",
    [
        ("lgpconv-net-std", {}, 87_000),  # Table 5: standard conv, N = 4, 87K
        ("lgpconv-net-bsconv", {}, 29_000),  # Table 5: BSConv, N = 10, 29K
        ("lgpconv-net", {"conv": "standard"}, 87_000),
        ("lgpconv-net", {"conv": "no_noise"}, 27_000),  # Table 4 variants keep the LGPConv size
    ],
)
def test_table5_variants_match_published_sizes(name, options, published):
    model = create(name, **options)
    assert abs(model.card.params - published) <= 0.05 * published


def test_ablation_modes_change_only_the_layer_type():
    premier = LGPConvNet(conv="premier")
    assert sum(p.numel() for p in premier.parameters()) == 13456
    assert all(m.perturb_depthwise is None for m in premier.modules() if hasattr(m, "perturb_depthwise"))
    assert len(create("lgpconv-net", conv="bsconv", blocks=4).body) == 4
    with pytest.raises(ModelError, match="conv must be one of"):
        LGPConvNet(conv="dense")


@pytest.mark.parametrize("case", ["lgpconv_modelpy_arch_seed0", "lgpconv_modelpy_arch_boosted"])
def test_reference_vectors(reference_dir, case):
    sd, ms, pan, lms, expected = load_case(reference_dir, case)
    model = load_authors_state_dict(LGPConvNet(8), sd)
    assert np.abs(run_eval(model, ms, pan, lms) - expected).max() <= 5e-6


def test_boosted_vector_needs_the_perturbation_branch(reference_dir):
    sd, ms, pan, lms, expected = load_case(reference_dir, "lgpconv_modelpy_arch_boosted")
    model = load_authors_state_dict(LGPConvNet(8), sd)
    with torch.no_grad():
        for m in model.modules():
            if getattr(m, "perturb_pointwise", None) is not None:
                m.perturb_pointwise.zero_()
    assert np.abs(run_eval(model, ms, pan, lms) - expected).max() > 0.1


def test_model_py_state_dict_import_and_round_trip(reference_dir, tmp_path):
    sd, ms, pan, lms, expected = load_case(reference_dir, "lgpconv_modelpy_arch_boosted")
    model = import_lgpconv_net(sd)
    out = run_eval(model, ms, pan, lms)
    assert np.abs(out - expected).max() <= 5e-6
    again = load(save(model, tmp_path / "lgp.safetensors"))
    np.testing.assert_array_equal(run_eval(again, ms, pan, lms), out)


def test_released_650_checkpoint_is_refused_with_the_reason(checkpoints_dir):
    with pytest.raises(ModelError, match="forward is unknown"):
        import_checkpoint("lgpconv-net", checkpoints_dir / "lgpconv_wv3_650.pth")
    with pytest.raises(ModelError, match="importer 'lgpconv-net'"):
        import_checkpoint("lightnet", checkpoints_dir / "lgpconv_wv3_650.pth")
    with pytest.raises(ModelError, match="importer 'lightnet'"):
        import_checkpoint("lgpconv-net", checkpoints_dir / "spanconv_wv3_weight-760.pth")


@pytest.mark.parametrize("conv", ["lgp", "no_noise", "premier", "bsconv", "standard"])
def test_fold_matches_unfolded(conv):
    torch.manual_seed(1)
    model = create("lgpconv-net", bands=4, conv=conv, **({"blocks": 2} if conv == "bsconv" else {}))
    with torch.no_grad():  # non-zero biases and a perturbation that matters
        for name, p in model.named_parameters():
            if "bias" in name:
                p.normal_(0, 0.1)
            elif "perturb" in name:
                p.normal_(0, 0.2)
    folded = model.fold()
    for h, w in [(2, 3), (9, 7)]:
        ms, pan, lms = torch.rand(1, 4, h, w), torch.rand(1, 1, 4 * h, 4 * w), torch.rand(1, 4, 4 * h, 4 * w)
        ref, got = run_eval(model, ms, pan, lms), run_eval(folded, ms, pan, lms)
        assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()


def test_bad_input():
    model = create("lgpconv-net")
    with pytest.raises(ShapeError, match="8 bands"):
        model(torch.rand(1, 3, 8, 8), torch.rand(1, 1, 32, 32), torch.rand(1, 3, 32, 32))
    with pytest.raises(ShapeError, match="pan must be"):
        model(torch.rand(1, 8, 8, 8), torch.rand(1, 1, 64, 64), torch.rand(1, 8, 64, 64))
    with pytest.raises(ValueRangeError):
        model(torch.full((1, 8, 8, 8), float("inf")), torch.rand(1, 1, 32, 32), torch.rand(1, 8, 32, 32))
    sd = LGPConvNet(bands=4).state_dict()
    with pytest.raises(ModelError, match="not part of an LGPConv-Net"):
        import_lgpconv_net({"tail_conv.2.point_wise.weight": torch.zeros(8, 8, 1, 1), **{k: v for k, v in sd.items()}})
