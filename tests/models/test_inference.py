"""Inference forms (eager, fold, trace) compute the same function as the eager model."""
from __future__ import annotations

import copy

import pytest
import torch

import numpy as np

from pansharpen import models
from pansharpen.models import create
from pansharpen.models.base import FusionModel
from pansharpen.models.inference import INFERENCE_FORMS, inference_module, preferred_form


def _inputs(bands: int, rows: int, cols: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    ms = torch.rand(1, bands, rows, cols, generator=g)
    return ms, torch.rand(1, 1, 4 * rows, 4 * cols, generator=g), torch.rand(1, bands, 4 * rows, 4 * cols, generator=g)


def _with_biases(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "bias" in name:
                p.normal_(0, 0.05)  # non-zero biases exercise the fold's border bias map
    return model.eval()


CASES = [("lgpconv-net", {}), ("lgpconv-net", {"conv": "premier"}), ("lgpconv-net", {"conv": "no_noise"}),
         ("lgpconv-net-std", {}), ("lgpconv-net-bsconv", {}), ("lightnet", {}), ("pnn", {}), ("dicnn", {})]


@pytest.mark.parametrize("name, options", CASES)
@pytest.mark.parametrize("form", INFERENCE_FORMS)
def test_every_form_equals_the_eager_model(name, options, form):
    torch.manual_seed(0)
    model = _with_biases(create(name, bands=4, **options))
    before = copy.deepcopy(model.state_dict())
    engine, used = inference_module(model, form)
    assert used == form
    # shapes unlike the trace's example and the checks, including a tiny one
    with torch.no_grad():
        for rows, cols, seed in ((7, 19, 1), (3, 2, 2), (24, 10, 3)):
            ms, pan, lms = _inputs(4, rows, cols, seed)
            want = model(ms, pan, lms)
            got = engine(ms, pan, lms)
            assert got.shape == want.shape
            assert float((got - want).abs().max()) <= 1e-5 * max(1.0, float(want.abs().max()))
    # the model itself is untouched
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
        assert value.is_contiguous()


def test_lgpconv_net_prefers_the_trace_on_cpu_and_the_fold_elsewhere():
    model = create("lgpconv-net", bands=4)
    assert preferred_form(model) == "trace"
    assert preferred_form(model, "cuda") == "fold"
    assert preferred_form(create("lightnet", bands=4)) == "fold"
    engine, used = inference_module(model)
    assert used == "trace" and isinstance(engine.engine, torch.jit.ScriptModule)
    ms, pan, lms = _inputs(4, 5, 6, 4)
    with torch.no_grad():  # without lms the traced form upsamples as the model does
        assert float((engine(ms, pan) - model(ms, pan)).abs().max()) <= 1e-5


class _ShapeDependent(FusionModel):
    """Adds a constant that depends on the image width: a trace bakes the width in."""

    def __init__(self):
        super().__init__()
        self.bands, self.ratio = 4, 4
        self.scale = torch.nn.Parameter(torch.ones(1))

    def fuse(self, ms, pan, lms):
        return lms * self.scale + float(pan.shape[-1])


def test_a_trace_that_bakes_in_a_shape_falls_back_with_a_warning():
    model = _ShapeDependent().eval()
    with pytest.warns(UserWarning, match="TorchScript inference form unavailable"):
        engine, used = inference_module(model, "trace")
    assert used == "eager" and engine is model


def test_bad_forms_are_refused():
    with pytest.raises(ValueError, match="inference form must be one of"):
        inference_module(create("pnn", bands=4), "compiled")
    model = create("pnn", bands=4)
    model.cpu_inference = "onnx"
    with pytest.raises(ValueError, match="cpu_inference must be one of"):
        preferred_form(model)


@pytest.mark.parametrize("form", ["eager", "fold", "trace"])
def test_inference_helpers_never_change_the_callers_model(form):
    """inference_module and NetworkFuser leave the caller's model in training mode, on its device,
    with the same weights (they work on an eval-mode copy)."""
    from pansharpen.fusion.network_fuser import NetworkFuser

    model = models.create("lgpconv-net", bands=4)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    inference_module(model, form, "cpu")
    fuser = NetworkFuser(model, form=form)
    fuser(np.full((4, 8, 8), 500.0), np.full((1, 32, 32), 500.0))
    assert model.training and all(m.training for m in model.modules())
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert fuser.model is not model


def test_an_eval_model_on_the_device_is_used_as_it_is():
    from pansharpen.models.inference import eval_copy

    model = models.create("lightnet", bands=4).eval()
    assert eval_copy(model, "cpu") is model
    assert eval_copy(model.train(), "cpu") is not model


@pytest.mark.parametrize("name", ["lgpconv-net", "lightnet"])
def test_graph_fused_trace_equals_the_eager_model_on_repeated_shapes(name, monkeypatch):
    """The trace's per-shape oneDNN Graph form (built on a shape's second call, fused from its
    third): every call equals the eager model, also on strided inputs and under inference mode;
    shapes are capped; the global fuser setting is restored."""
    monkeypatch.setenv("PANSHARPEN_ONEDNN_GRAPH", "1")
    torch.manual_seed(0)
    model = _with_biases(create(name, bands=4))
    engine, used = inference_module(model, "trace")
    assert used == "trace"
    engine.max_shapes = 2
    shapes = ((9, 11, 1), (6, 6, 2), (5, 7, 3))  # the third is over the cap: the plain trace
    with torch.inference_mode():
        for rows, cols, seed in shapes:
            ms, pan, lms = _inputs(4, rows, cols + 1, seed)
            ms, pan, lms = ms[..., :cols], pan[..., : 4 * cols], lms[..., : 4 * cols]  # strided views
            want = model(ms, pan, lms)
            for _ in range(4):
                got = engine(ms, pan, lms)
                assert got.shape == want.shape
                assert float((got - want).abs().max()) <= 1e-5 * max(1.0, float(want.abs().max()))
    built = [v for v in engine._fused.values() if v is not None]
    assert len(engine._fused) == 2 and len(built) == 2
    with torch.no_grad():
        built[-1](*(t.contiguous() for t in _inputs(4, 6, 6, 2)))
    kinds = {n.kind() for n in torch.jit.last_executed_optimized_graph().nodes()}
    assert "prim::oneDNNFusionGuard" in kinds  # it really runs fused
    assert not torch.jit.onednn_fusion_enabled()


@pytest.mark.parametrize("setting", [None, "0"])
def test_graph_fusion_is_off_by_default_and_with_zero(monkeypatch, setting):
    monkeypatch.delenv("PANSHARPEN_ONEDNN_GRAPH", raising=False)
    if setting is not None:
        monkeypatch.setenv("PANSHARPEN_ONEDNN_GRAPH", setting)
    engine, _ = inference_module(create("lgpconv-net", bands=4), "trace")
    ms, pan, lms = _inputs(4, 5, 6, 4)
    with torch.no_grad():
        for _ in range(3):
            engine(ms, pan, lms)
    assert engine._fused == {} and engine._source[0] is None
