"""The fastest exact inference form of a fusion network on the CPU.

Three forms compute the same function of the same weights (to float32 rounding):

* ``"eager"``: the model as it is.
* ``"fold"``: :meth:`ComplexityMixin.fold` -- SpanConv/BSConv/LGPConv layers as dense
  convolutions with an exact border bias map, channels-last. Best where the dense kernel
  costs few MACs more than the factorised one (LightNet: 9 Cin Cout vs 2 (Cin Cout + 9 Cout)).
* ``"trace"``: the unfolded model, channels-last, traced and frozen by TorchScript and passed
  through :func:`torch.jit.optimize_for_inference`, which keeps the activations in oneDNN's
  blocked layout, prepacks the weights and makes the additions and ReLUs in place. Best for
  factorised layers whose dense fold multiplies the MACs (LGPConv: two dense 3x3 convs,
  18,432 MACs per pixel for 32 -> 32, vs 2,624 factorised), because the depthwise and
  pointwise steps, memory-bound in eager PyTorch, then run on cache-resident blocked tensors.

A model names its CPU form in the class attribute ``cpu_inference`` (default ``"fold"`` when it
has ``fold()``, else ``"eager"``); the measurements behind each choice are in docs/fusion.md
(``python bench/bench_inference.py``). The traced form is checked against the eager model on
two small inputs of different shapes before it is used (a trace that baked in a shape, or a
TorchScript that cannot run, falls back to ``"fold"`` with a warning). On other devices
``"trace"`` means ``"fold"``: oneDNN layouts are a CPU matter. The traced form is a
:class:`TracedForm`, called like the model (it upsamples ``lms`` itself when none is given).
"""
from __future__ import annotations

import contextlib
import copy
import os
import warnings
from typing import Callable, Iterator

import torch
from torch import nn

from .complexity import _inputs

__all__ = ["INFERENCE_FORMS", "TracedForm", "eval_copy", "graph_fusion_default", "preferred_form", "inference_module"]

INFERENCE_FORMS = ("eager", "fold", "trace")

#: (PAN rows, PAN cols) of the two checks: different, not square, multiples of ratios 2 and 4
_CHECK_SHAPES = ((44, 52), (36, 64))


def eval_copy(model: nn.Module, device: str | torch.device = "cpu") -> nn.Module:
    """``model`` itself when it and all its submodules are in eval mode on ``device``, else an
    eval-mode copy on ``device``: inference helpers never switch the caller's model to eval mode
    or move it."""
    device = torch.device(device)
    tensors = list(model.parameters()) + list(model.buffers())
    same_device = all(t.device.type == device.type and (device.index is None or t.device.index == device.index) for t in tensors)
    if same_device and not any(m.training for m in model.modules()):
        return model
    return copy.deepcopy(model).eval().to(device)


def preferred_form(model: nn.Module, device: str | torch.device = "cpu") -> str:
    """The model's declared ``cpu_inference`` form on the CPU; ``"fold"``/``"eager"`` elsewhere."""
    default = "fold" if hasattr(model, "fold") else "eager"
    form = getattr(model, "cpu_inference", default)
    if form not in INFERENCE_FORMS:
        raise ValueError(f"{type(model).__name__}.cpu_inference must be one of {INFERENCE_FORMS}; got {form!r}")
    if form == "fold" and not hasattr(model, "fold"):
        form = "eager"
    if torch.device(device).type != "cpu" and form == "trace":
        form = default
    return form


def graph_fusion_default() -> bool:
    """Whether traced forms fuse with oneDNN Graph (see :class:`TracedForm`): ``$PANSHARPEN_ONEDNN_GRAPH=1``
    turns it on; off by default (it paid per forward but not for the full WV3 scene, docs/performance.md)."""
    return os.environ.get("PANSHARPEN_ONEDNN_GRAPH", "0").strip() == "1"


@contextlib.contextmanager
def _onednn_graph() -> Iterator[None]:
    """TorchScript's oneDNN Graph (LLGA) fuser on for the duration, the previous setting restored."""
    before = torch.jit.onednn_fusion_enabled()
    torch.jit.enable_onednn_fusion(True)
    try:
        yield
    finally:
        torch.jit.enable_onednn_fusion(before)


class TracedForm(nn.Module):
    """A traced network called like the model: ``forward(ms, pan, lms=None)``; a missing ``lms`` is
    made with the model's ``upsample`` (the trace takes exactly three tensors).

    With ``source`` (the channels-last model) the form also builds, for each input shape called a
    second time (at most ``max_shapes``), a trace fused by oneDNN Graph: convolutions with their
    bias, the residual sum and the ReLU in one primitive (post-ops), so each LGPConv layer makes
    fewer passes over its activations. TorchScript specialises such a trace to the shape of its
    first (profiling) call, which runs unfused (about 2.5x the time of ``engine``); its second
    call runs fused and is checked against the first (to 1e-5 of the output's range; a shape that
    fails keeps ``engine``, the oneDNN-layout trace). Other shapes use ``engine``; the first call
    of a shape (``engine``) and the later ones (fused) differ by float32 rounding (about 2e-7 of
    the range, as ``engine`` does between one and two threads).

    Opt-in (``PANSHARPEN_ONEDNN_GRAPH=1``, :func:`graph_fusion_default`): a fused LGPConv-Net
    forward on 568 x 568 took 0.75x the time of ``engine``, but building one (oneDNN compiles
    about 40 fused partitions per shape) cost more than the 49 tiles of the full WV3 scene saved:
    that ``fuse`` took 19.1 s against 17.3 s without it (1.11x), with 0.44 GB more peak memory (docs/performance.md, "Full-scene
    fuse: reader and writer threads, oneDNN post-op fusion"). It can pay on scenes of thousands
    of tiles (not measured).
    """

    def __init__(self, engine: Callable, upsample: Callable, source: nn.Module | None = None, max_shapes: int = 4):
        super().__init__()
        self.engine = engine
        self._upsample = (upsample,)  # the source model's method, kept out of the module tree
        self._source = (source,)  # idem
        self.max_shapes = max_shapes
        self._fused: dict = {}  # input shapes -> graph-fused trace, or None where it is not used
        self._seen: dict = {}  # input shapes -> calls

    def forward(self, ms: torch.Tensor, pan: torch.Tensor, lms: torch.Tensor | None = None) -> torch.Tensor:
        lms = self._upsample[0](ms) if lms is None else lms
        if self._source[0] is None:
            return self.engine(ms, pan, lms)
        inputs = (ms.contiguous(), pan.contiguous(), lms.contiguous())  # the fused trace guards strides too
        key = tuple(tuple(t.shape) for t in inputs)
        fused = self._fused.get(key)
        if fused is not None:
            return fused(*inputs)
        seen = self._seen[key] = self._seen.get(key, 0) + 1
        if seen != 2 or len(self._fused) >= self.max_shapes:  # a shape seen once never pays for a build
            return self.engine(ms, pan, lms)
        return self._build(key, inputs)

    def _build(self, key: tuple, inputs: tuple) -> torch.Tensor:
        """Trace for this shape, run it (profiling, unfused), run it fused, keep it if they agree."""
        self._fused[key] = None
        with _onednn_graph(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fused = torch.jit.freeze(torch.jit.trace(self._source[0], inputs, check_trace=False))
                plain = fused(*inputs)
                got = fused(*inputs)
            except Exception:  # noqa: BLE001 - LLGA missing or refusing a pattern: the oneDNN trace is exact
                return self.engine(*inputs)
        if float((got - plain).abs().max()) <= 1e-5 * max(1.0, float(plain.abs().max())):
            self._fused[key] = fused
            return got  # every later call of this shape gives these values
        return plain


def _traced(model: nn.Module, graph_fusion: bool | None = None) -> TracedForm:
    """``model`` traced, frozen and optimised for CPU inference; raises RuntimeError when the
    result differs from the eager model on the check inputs. ``graph_fusion`` (default
    :func:`graph_fusion_default`): also fuse per shape with oneDNN Graph (:class:`TracedForm`)."""
    graph_fusion = graph_fusion_default() if graph_fusion is None else graph_fusion
    source = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)
    generator = torch.Generator().manual_seed(0)
    checks = [_inputs(source, shape, generator=generator) for shape in _CHECK_SHAPES]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings of the input checks, which are traced as passed
        traced = torch.jit.trace(source, checks[0], check_trace=False)
        engine = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
        for inputs in checks:
            want = source(*inputs)
            got = engine(*inputs)
            err = float((got - want).abs().max())
            if not err <= 1e-4 * max(1.0, float(want.abs().max())):
                raise RuntimeError(f"the traced model differs from the eager one by {err:.3g} on {tuple(inputs[1].shape)}")
    return TracedForm(engine, model.upsample, source if graph_fusion else None)


def inference_module(model: nn.Module, form: str | None = None, device: str | torch.device = "cpu") -> tuple[Callable, str]:
    """``(module, form)``: ``model`` (a :class:`~pansharpen.models.base.FusionModel`) in ``form``
    (default :func:`preferred_form`), called as ``module(ms, pan, lms=None)`` with the model's
    shapes and value range. The model itself is not changed. Raises ValueError on an unknown form."""
    form = preferred_form(model, device) if form is None else form
    if form not in INFERENCE_FORMS:
        raise ValueError(f"inference form must be one of {INFERENCE_FORMS}; got {form!r}")
    model = eval_copy(model, device if form != "trace" else "cpu")
    if form == "trace" and torch.device(device).type == "cpu":
        try:
            return _traced(model), "trace"
        except Exception as exc:  # TorchScript missing or refusing this model: the fold is exact too
            warnings.warn(f"TorchScript inference form unavailable for {type(model).__name__} ({exc}); using the fold",
                          stacklevel=2)
            form = "fold" if hasattr(model, "fold") else "eager"
    if form in ("fold", "trace") and hasattr(model, "fold"):
        return model.fold().eval().to(device), "fold"
    return eval_copy(model, device), "eager"
