"""Leave-scenes-out validation: networks against the classical methods on held-out scenes.

Scores every held-out image of a ``SET_valid.h5`` written by
:func:`pansharpen.datasets.corpus.simulate_corpus` (scenes never used in training) with the
reference-exact reduced-resolution indices (Q2n on 32 x 32 blocks, SAM in degrees, ERGAS; no
border cut), for

* every classical method (each with the MTF gains of the image's own sensor), EXP included;
* any number of networks (weights files, bundled names or models), fed the set's ``lms``.

Results are averaged per scene (over its images), then over scenes (each scene counts once).
Two classical references are reported: ``best classical (per scene)``, the method with the best
Q2n on each scene separately (an oracle no user has), and the best *single* classical method by
mean Q2n over the scenes (what a fixed default would give).

Example::

    res = cross_scene("wv-8band_valid.h5", {"lightnet.wv-8band": "lightnet.wv-8band"})
    print(res.to_markdown())
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .. import models
from ..classical.registry import get_method, list_methods
from ..datasets.corpus import FAMILIES, scene_of_rows
from ..errors import DataFormatError
from ..fusion.network_fuser import NetworkFuser
from ..io.pancollection import open_pancollection
from ..metrics.reduced import reduced_resolution_indices
from ..protocol.sensors import get_sensor

INDICES = ("Q2n", "SAM", "ERGAS")
BEST_PER_SCENE = "best classical (per scene)"


@dataclass
class CrossSceneResult:
    """Per-scene and mean indices of each method on the held-out scenes.

    Attributes:
        per_scene: ``{method: {scene: {"Q2n", "SAM", "ERGAS"}}}`` (means over the scene's images).
        images: ``{scene: number of images}``.
        best_per_scene: ``{scene: classical method with the best Q2n there}``.
        best_classical: the single classical method (EXP excluded) with the best mean Q2n.
        classical: names of the classical methods scored.
        set_name: the validation file's name.
    """

    per_scene: dict[str, dict[str, dict[str, float]]]
    images: dict[str, int]
    best_per_scene: dict[str, str]
    best_classical: str
    classical: list[str]
    set_name: str
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def scenes(self) -> list[str]:
        return list(self.images)

    def mean(self, method: str) -> dict[str, float]:
        """Mean over scenes (each scene once) of ``method``'s per-scene indices."""
        rows = self.per_scene[method]
        return {k: float(np.mean([rows[s][k] for s in self.scenes])) for k in INDICES}

    def wins(self, method: str, against: str) -> dict[str, int]:
        """On how many scenes ``method`` is better than ``against``, per index."""
        a, b = self.per_scene[method], self.per_scene[against]
        return {"Q2n": sum(a[s]["Q2n"] > b[s]["Q2n"] for s in self.scenes),
                "SAM": sum(a[s]["SAM"] < b[s]["SAM"] for s in self.scenes),
                "ERGAS": sum(a[s]["ERGAS"] < b[s]["ERGAS"] for s in self.scenes)}

    def methods(self) -> list[str]:
        """Networks first, then the best-per-scene oracle, the best single classical method and EXP."""
        nets = [m for m in self.per_scene if m not in self.classical and m != BEST_PER_SCENE]
        return nets + [BEST_PER_SCENE, self.best_classical] + (["exp"] if "exp" in self.per_scene else [])

    def to_dict(self) -> dict[str, Any]:
        return {"set": self.set_name, "images": self.images, "per_scene": self.per_scene,
                "mean": {m: self.mean(m) for m in self.per_scene}, "best_per_scene": self.best_per_scene,
                "best_classical": self.best_classical, "classical": self.classical}

    def to_markdown(self, methods: Sequence[str] | None = None) -> str:
        """A per-scene table (Q2n / SAM / ERGAS per cell) and a mean row per method."""
        methods = list(methods or self.methods())
        head = "| method | " + " | ".join(f"{s} ({self.images[s]})" for s in self.scenes) + " | mean |"
        lines = [head, "|---" * (len(self.scenes) + 2) + "|"]
        for m in methods:
            label = f"{m} (best single classical)" if m == self.best_classical else m
            cells = [self._cell(self.per_scene[m][s]) for s in self.scenes]
            lines.append(f"| {label} | " + " | ".join(cells) + f" | **{self._cell(self.mean(m))}** |")
        lines.append("")
        lines.append("Cells: Q2n / SAM (deg) / ERGAS; (n) = images of the scene. Best classical per scene: "
                     + ", ".join(f"{s}: {m}" for s, m in self.best_per_scene.items()) + ".")
        return "\n".join(lines) + "\n"

    @staticmethod
    def _cell(r: Mapping[str, float]) -> str:
        return f"{r['Q2n']:.4f} / {r['SAM']:.3f} / {r['ERGAS']:.3f}"


def _load(spec: Any):
    if hasattr(spec, "forward"):
        return spec
    return models.load(spec)


def cross_scene(
    valid_path: "str | os.PathLike",
    networks: Mapping[str, Any] | None = None,
    classical: Sequence[str] | None = None,
    block_size: int = 32,
) -> CrossSceneResult:
    """Score ``networks`` and the classical methods on the held-out scenes of ``valid_path``.

    Args:
        valid_path: a ``SET_valid.h5`` of :func:`~pansharpen.datasets.corpus.simulate_corpus`
            (its ``scene_rows`` and ``scenes`` attributes name each image's scene and sensor).
        networks: ``{label: weights file | bundled name | model}``; each is fed ``DN / normaliser``
            of its card (the set's values are 11-bit-equivalent DN, normaliser 2047).
        classical: method names (default: all, EXP included).
    """

    path = Path(valid_path)
    rows = scene_of_rows(path)
    with open_pancollection(path) as f:
        attrs = dict(f.attrs)
        samples = [{k: f.read(k, i) for k in ("gt", "ms", "lms", "pan")} for i in range(len(f))]
    family = attrs.get("family")
    scenes_meta = {s["name"]: s for s in attrs.get("scenes", [])}
    if family not in FAMILIES or not scenes_meta:
        raise DataFormatError(f"{path} is not a held-out set of `pansharpen simulate corpus:FAMILY` (no family/scenes)")
    nb, indices = FAMILIES[family]
    ratio = int(attrs.get("ratio", 4))

    def sensor_of(scene: str):
        name = scenes_meta[scene]["sensor"]
        if name.lower() in ("generic", "none"):
            return get_sensor("none", nbands=nb)
        s = get_sensor(name)
        return s.with_bands(indices) if s.nbands == 8 and nb == 4 else s

    methods = list(classical) if classical is not None else list_methods()
    fusers: dict[str, Any] = {}
    for label, spec in (networks or {}).items():
        model = _load(spec)
        fusers[label] = NetworkFuser(model).fuse_image  # DN / card normaliser in, DN out, the set's lms
    per_scene: dict[str, dict[str, dict[str, float]]] = {m: {} for m in [*fusers, *methods]}
    images = {}
    for scene, (a, b) in rows.items():
        sensor = sensor_of(scene)
        images[scene] = b - a
        acc: dict[str, list[dict[str, float]]] = {m: [] for m in per_scene}
        for i in range(a, b):
            s = samples[i]
            for label, fuse in fusers.items():
                acc[label].append(_score(s["gt"], fuse(s["ms"], s["pan"], s["lms"]), ratio, block_size,
                                         reduced_resolution_indices))
            for m in methods:
                fused = np.asarray(get_method(m)(s["ms"], s["pan"], sensor, ratio), dtype=np.float64)
                acc[m].append(_score(s["gt"], fused, ratio, block_size, reduced_resolution_indices))
        for m, lst in acc.items():
            per_scene[m][scene] = {k: float(np.mean([r[k] for r in lst])) for k in INDICES}
    non_exp = [m for m in methods if m != "exp"]
    best_per_scene, oracle = {}, {}
    for scene in rows:
        if non_exp:
            best = max(non_exp, key=lambda m: per_scene[m][scene]["Q2n"])
            best_per_scene[scene] = best
            oracle[scene] = dict(per_scene[best][scene])
    if oracle:
        per_scene[BEST_PER_SCENE] = oracle
    best_single = max(non_exp, key=lambda m: np.mean([per_scene[m][s]["Q2n"] for s in rows])) if non_exp else ""
    return CrossSceneResult(per_scene, images, best_per_scene, best_single, methods, path.name,
                            {k: attrs.get(k) for k in ("family", "pan_mode", "scale", "protocol")})


def _score(gt, fused, ratio, block_size, indices_fn) -> dict[str, float]:
    fused = np.clip(fused, 0.0, None)  # the toolbox's uint16 cast inside Q2n; SAM/ERGAS on the same image
    r = indices_fn(gt, fused, ratio=ratio, crop=0, block_size=block_size, max_value=2047.0)
    return {k: float(r[k]) for k in INDICES}
