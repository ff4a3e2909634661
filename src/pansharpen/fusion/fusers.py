"""Fusers: what runs on one haloed block of a scene.

A fuser maps an MS block ``(C, h, w)`` and a PAN block ``(1, R*h, R*w)``, both float64
digital numbers, to a fused block ``(C, R*h, R*w)`` in digital numbers:
``fuser(ms, pan, origin=(row, col))``, where ``origin`` is the block's top-left PAN pixel in
the scene (block-wise methods such as BDSD need it). ``halo`` is the
margin (PAN pixels, a multiple of R) that a tile needs on each side so that its centre
equals the same region of a whole-image run. ``prepare`` sees the whole scene once
(decimated if large) for methods with scene-wide statistics.

Optional: a fuser that sets ``accepts_margin = True`` also takes ``margin=`` (PAN pixels): the
caller keeps only ``[margin:-margin]`` of the result, so the fuser may leave the rest unset.
The scene pipeline passes its ``halo`` as the margin; :class:`~pansharpen.fusion.network_fuser.NetworkFuser`
uses it to run the network on the kept centre only.

``fuser.fuse_image(ms, pan, lms=None)`` fuses one whole in-memory image (statistics of that
image, no tiles): the benchmark scores methods through it, so ``fuse`` and the benchmark run
the same fusers. Networks see DN on the scale of :mod:`pansharpen.protocol.scaling`.

A fuser that sets ``accepts_phase = True`` also takes ``phase=(dy, dx)``: the sub-pixel offset
(PAN pixels, in [-0.5, 0.5]) of an MS grid that does not share the PAN's pixel corners
(:attr:`pansharpen.io.grid.PairGrid.phase`); both fusers here upsample the MS at that phase
(:func:`pansharpen.protocol.interp.interp23tap`). The scene pipeline passes it only when it is
nonzero, so aligned grids run exactly as before.

A fuser that sets ``scale_free = True`` gives its result in the inputs' scale whatever it is (the
classical methods), so ``check_range=False`` may feed it [0, 1] values; a network divides by its
card's normaliser and adds learned offsets, so the scene refuses such values for it
(:func:`pansharpen.fusion.checks.check_input_values`).

A fuser whose ``reads_scene`` is False has parameters that do not depend on the scene (EXP, MF,
MTF-GLP-HPM): the scene pipeline then calls ``prepare`` on a one-pixel pair instead of reading the
whole PAN (:func:`pansharpen.fusion.scene.fuse_scene`); without the attribute, the scene is read.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Mapping

import numpy as np

from .._arrays import torch_module
from ..classical import registry as classical_registry
from ..errors import ModelError
from ..protocol.consistency import consistency_reach, project_consistent, require_aligned_grid
from ..protocol.interp import interp23tap


def interp23_margin_lr(ratio: int) -> int:
    """LR pixels reached by interp23tap: its 23-tap filter (radius 11) at each x2 step reaches
    ``11 / 2**k`` LR pixels at step k, in all ``11 * (1 - 1/ratio)`` (9 for ratio 4)."""
    return math.ceil(11 * (1 - 1 / ratio))


DEVICES = ("cpu", "cuda", "auto")


def resolve_device(device: str | None) -> str:
    """``cpu``, ``cuda`` (refused with what to do when no CUDA device is usable) or ``auto``
    (CUDA when available, else CPU) -> a torch device string (``cuda:N`` kept as given)."""
    name = (device or "cpu").lower()
    if name == "cpu":
        return "cpu"  # without importing torch: the classical path never needs it
    if name == "auto":
        return "cuda" if torch_module().cuda.is_available() else "cpu"
    if name == "cuda" or name.startswith("cuda:"):
        if not torch_module().cuda.is_available():
            raise ModelError(
                f"--device {device}: no CUDA device is available to torch here (torch.cuda.is_available() is False); "
                "use --device cpu, or --device auto to take CUDA only when present"
            )
        return name
    raise ModelError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")


class ClassicalFuser:
    """Runs a classical method; scene-wide statistics are estimated once in :meth:`prepare`.

    ``options`` are the method's own (``block`` for BDSD, ...; see ``pansharpen methods``).
    ``consistent``: follow the method with the spectral-consistency projection
    (:func:`pansharpen.protocol.consistency.project_consistent`, with the sensor's MTF gains); the
    halo grows by its reach. It needs an MS grid that shares the PAN's pixel corners.
    """

    def __init__(self, name: str, sensor, ratio: int = 4, options: Mapping[str, Any] | None = None,
                 consistent: bool = False):
        self.method = classical_registry.get_method(name)
        self.name = self.method.name
        self.sensor = sensor
        self.ratio = ratio
        self.options = dict(options or {})
        self.bands = sensor.nbands
        self.halo = self.method.halo_for(ratio)
        self.consistent = bool(consistent)
        if self.consistent:
            reach = consistency_reach(sensor.ms_gnyq, ratio)
            self.halo += -(-reach // ratio) * ratio
        self.params = None

    accepts_phase = True  # takes phase= (the MS grid's sub-pixel offset), see __call__
    # a call is a pure numpy/scipy function of the block and ``params`` (no shared state but read-only
    # caches), so the scene may compute several tiles at once in threads (numpy releases the GIL)
    parallel_tiles = True
    scale_free = True  # linear in the inputs' common scale: [0, 1] inputs give a [0, 1] result

    @property
    def reads_scene(self) -> bool:
        """Whether :meth:`prepare` needs the scene (False: the method's parameters do not depend on it)."""
        return self.method.reads_scene

    @property
    def imports(self) -> tuple[str, ...]:
        """The modules the method loads when it runs (:attr:`~pansharpen.classical._common.ClassicalMethod.imports`)."""
        return self.method.imports

    def prepare(self, ms_scene: np.ndarray, pan_scene: np.ndarray) -> None:
        self.params = self.method.estimate(ms_scene, pan_scene, self.sensor, self.ratio, **self.options)

    def fuse_image(self, ms: np.ndarray, pan: np.ndarray, lms: np.ndarray | None = None) -> np.ndarray:
        """One whole image: statistics of this image, then the method (``lms`` is not used: the
        method upsamples the MS with its own interpolator). ``(C, H, W)`` float64 DN."""
        out = np.asarray(self.method(ms, pan, self.sensor, self.ratio, **self.options), dtype=np.float64)
        return self._project(out, ms)

    def _project(self, fused: np.ndarray, ms: np.ndarray) -> np.ndarray:
        if not self.consistent:
            return fused
        return np.asarray(project_consistent(fused, np.asarray(ms, dtype=np.float64), self.sensor.ms_gnyq, self.ratio))

    def __call__(self, ms_block: np.ndarray, pan_block: np.ndarray, origin=(0, 0),
                 phase: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        """Fused block; ``phase``: the MS grid's sub-pixel offset on the PAN grid, given to the
        method as its upsampled MS (``lms = interp23tap(ms, R, phase)``, the EXP image where the
        MS pixels really lie). Methods that upsample otherwise (e.g. GDAL-style Brovey's cubic)
        use their own."""
        if self.params is None:
            raise RuntimeError("ClassicalFuser.prepare(ms, pan) must run on the scene before fusing blocks")
        if self.consistent:
            require_aligned_grid(phase)
        lms = None
        if any(phase) and self.ratio & (self.ratio - 1) == 0:
            lms = np.asarray(interp23tap(ms_block, self.ratio, phase=phase), dtype=np.float64)
        elif any(phase) and not getattr(self, "_phase_warned", False):
            self._phase_warned = True
            warnings.warn(f"the grid phase {tuple(phase)} is applied for power-of-two ratios only; at ratio "
                          f"{self.ratio} {self.name} upsamples the MS as if it shared the PAN pixel corners",
                          stacklevel=2)
        out = np.asarray(self.method.apply(ms_block, pan_block, self.params, lms=lms, offset=origin))
        return self._project(out, ms_block)
