"""SpanConv LightNet: size, cost, reference vectors, official checkpoint, fold, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pansharpen.errors import ModelError, ShapeError, ValueRangeError
from pansharpen.models import create, load, save
from pansharpen.models.checkpoints import import_checkpoint
from pansharpen.models.lightnet import LightNet, convert_authors_state_dict, load_authors_state_dict
from pansharpen.models.registry import complete_card

from .reference_cases import load_case, run_eval


def test_parameter_count_and_card():
    model = create("lightnet")
    assert model.card.params == 16264  # seed-implementations 1.3 (README: 16K)
    assert complete_card(model).macs_per_pixel == pytest.approx(15380, abs=1)  # 0.0630 GMAC at 64x64
    assert complete_card(model).receptive_field == 10  # ten 3x3 SpanConvs
    assert sum(p.numel() for p in create("lightnet", bands=4).parameters()) == 15504  # seed-implementations 1.3


@pytest.mark.parametrize("bands", [3, 4, 8])
def test_any_band_count_and_global_residual(bands):
    model = create("lightnet", bands=bands)
    ms, pan, lms = torch.rand(2, bands, 5, 6), torch.rand(2, 1, 20, 24), torch.rand(2, bands, 20, 24)
    assert model(ms, pan, lms).shape == (2, bands, 20, 24)
    with torch.no_grad():  # a zero last layer leaves exactly lms
        for p in model.tail[-1].parameters():
            p.zero_()
    torch.testing.assert_close(model(ms, pan, lms), lms)


@pytest.mark.parametrize("case", ["spanconv_arch_seed0", "spanconv_wv3_w760_patch64"])
def test_reference_vectors(reference_dir, case):
    sd, ms, pan, lms, expected = load_case(reference_dir, case)
    model = load_authors_state_dict(LightNet(8), sd)
    assert np.abs(run_eval(model, ms, pan, lms) - expected).max() <= 5e-6


def test_official_checkpoint_import_and_round_trip(reference_dir, checkpoints_dir, tmp_path):
    _, ms, pan, lms, expected = load_case(reference_dir, "spanconv_wv3_w760_patch64")
    model = import_checkpoint("lightnet", checkpoints_dir / "spanconv_wv3_weight-760.pth")
    assert model.card.params == 16264 and model.card.training["imported_from"] == "spanconv_wv3_weight-760.pth"
    out = run_eval(model, ms, pan, lms)
    assert np.abs(out - expected).max() <= 5e-6
    path = save(model, tmp_path / "lightnet-wv3.safetensors")
    again = load(path)
    assert again.card.arch == "lightnet" and again.card.sensors == ["WV3"]
    np.testing.assert_array_equal(run_eval(again, ms, pan, lms), out)


def test_belly_keys_are_renamed_not_skipped(reference_dir):
    sd, *_ = load_case(reference_dir, "spanconv_wv3_w760_patch64")
    released = {("res_block." + k[len("belly_conv."):] if k.startswith("belly_conv.") else k): v for k, v in sd.items()}
    ours = convert_authors_state_dict(released)
    assert torch.equal(ours["body.1.conv2.pointwise_weight"][1], sd["belly_conv.1.conv2.point_wise_2.weight"][:, :, 0, 0])


def test_fold_matches_with_nonzero_biases_and_random_sizes():
    torch.manual_seed(0)
    model = create("lightnet", bands=4)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "bias" in name:
                p.normal_(0, 0.1)
    folded = model.fold()
    assert folded.folded and not model.folded
    for h, w in [(3, 2), (7, 9), (16, 13)]:
        ms, pan, lms = torch.rand(1, 4, h, w), torch.rand(1, 1, 4 * h, 4 * w), torch.rand(1, 4, 4 * h, 4 * w)
        ref, got = run_eval(model, ms, pan, lms), run_eval(folded, ms, pan, lms)
        assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()
    assert "body.0.conv1.pointwise_weight" in model.state_dict()  # checkpoint format unchanged


def test_bad_input():
    model = create("lightnet")
    with pytest.raises(ShapeError, match="8 bands"):
        model(torch.rand(1, 4, 8, 8), torch.rand(1, 1, 32, 32), torch.rand(1, 4, 32, 32))
    with pytest.raises(ShapeError, match="ratio 4"):
        model(torch.rand(1, 8, 8, 8), torch.rand(1, 1, 30, 32), torch.rand(1, 8, 30, 32))
    lms = torch.rand(1, 8, 32, 32)
    lms[0, 3, 5, 5] = float("nan")
    with pytest.raises(ValueRangeError, match="NaN"):
        model(torch.rand(1, 8, 8, 8), torch.rand(1, 1, 32, 32), lms)


def test_checkpoints_of_other_networks_or_band_counts_are_refused(tmp_path):
    lgp = {"tail_conv.2.point_wise.weight": torch.zeros(8, 8, 1, 1)}
    from pansharpen.models.lightnet import import_lightnet

    with pytest.raises(ModelError, match="importer 'lgpconv-net'"):
        import_lightnet(lgp)
    four = create("lightnet", bands=4)
    authors = {}
    for k, v in four.state_dict().items():  # a 4-band state dict under the authors' names
        layer, leaf = k.rsplit(".", 1)
        top, rest = layer.split(".", 1)
        top = {"head": "head_conv", "body": "belly_conv", "tail": "tail_conv"}[top]
        kind, what = leaf.split("_")
        for n in range(2):
            t = v[n]
            if what == "weight":
                t = t[:, :, None, None] if kind == "pointwise" else t[:, None]
            authors[f"{top}.{rest}.{'point_wise' if kind == 'pointwise' else 'depth_wise'}_{n + 1}.{what}"] = t
    with pytest.raises(ModelError, match="8 bands"):
        load_authors_state_dict(LightNet(8), authors)
    assert import_lightnet(authors).bands == 4
    with pytest.raises(ModelError, match="not part of a SpanConv"):
        convert_authors_state_dict({"conv1.weight": torch.zeros(1)})


def test_receptive_field_is_a_sufficient_tiling_halo():
    torch.manual_seed(0)
    model = create("lightnet", bands=4).eval()
    rf = complete_card(model).receptive_field
    pan, lms = torch.rand(1, 1, 64, 64), torch.rand(1, 4, 64, 64)
    whole = run_eval(model, torch.rand(1, 4, 16, 16), pan, lms)
    # a 4x4 core at (32, 32) with a halo of rf pixels on each side (crop side a multiple of 4)
    lo, hi = 32 - rf, 36 + rf  # side 4 + 2 rf = 24, a multiple of the ratio
    tile = run_eval(model, torch.rand(1, 4, (hi - lo) // 4, (hi - lo) // 4), pan[..., lo:hi, lo:hi], lms[..., lo:hi, lo:hi])
    core = slice(32 - lo, 36 - lo)
    np.testing.assert_allclose(tile[..., core, core], whole[..., 32:36, 32:36], rtol=0, atol=1e-6)
