"""Model cards: what a model is, what it expects and how it was trained.

A card travels with the weights as JSON in the safetensors metadata (key
``pansharpen.card``). Fields follow DESIGN.md: name, paper, bands, sensors, ratio,
normalisation constant, receptive field (halo for exact tiling), parameter count,
MACs per output pixel, training data and recipe, validation metrics.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

CARD_METADATA_KEY = "pansharpen.card"
FORMAT_VERSION = "1"


@dataclass
class ModelCard:
    """Description of one model (architecture + weights).

    Attributes:
        arch: registered architecture name (``lgpconv-net``, ``lightnet`` ...).
        name: name of this particular set of weights (``lgpconv-net-wv3``); defaults to ``arch``.
        paper: citation of the paper that defines the architecture.
        bands: number of MS/HS bands the model fuses.
        guide_bands: channels of the high-resolution guide (1 for PAN, 3 for RGB in HISR).
        ratio: PAN/MS resolution ratio.
        sensors: sensors the weights were trained for (empty: untrained / any).
        normaliser: inputs are digital numbers divided by this (2047 for 11-bit WorldView).
        receptive_field: radius in PAN pixels that influences one output pixel; the tiling halo.
        global_pooling: True if the forward uses image-wide statistics (Ada3D).
        params: number of parameters.
        macs_per_pixel: multiply-accumulates per output pixel (PAN scale) of one forward.
        options: keyword options passed to ``create`` (architecture variant).
        training: free-form training record (data, command, time, recipe).
        metrics: validation metrics of these weights.
        notes: anything a user should know.
    """

    arch: str
    name: str = ""
    paper: str = ""
    bands: int = 8
    guide_bands: int = 1
    ratio: int = 4
    sensors: list[str] = field(default_factory=list)
    normaliser: float = 2047.0
    receptive_field: int = 0
    global_pooling: bool = False
    params: int = 0
    macs_per_pixel: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            self.name = self.arch

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelCard":
        data = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_markdown(self) -> str:
        """A human-readable card (used for docs/ and ``pansharpen models --card``)."""
        lines = [f"# {self.name}", "", f"- architecture: `{self.arch}`", f"- paper: {self.paper}"]
        lines += [
            f"- bands: {self.bands} (guide: {self.guide_bands}), ratio {self.ratio}",
            f"- sensors: {', '.join(self.sensors) or 'any'}; inputs divided by {self.normaliser:g}",
            f"- parameters: {self.params:,}; MACs per output pixel: {self.macs_per_pixel:,.0f}",
            f"- receptive field (tiling halo): {self.receptive_field} px; global pooling: {self.global_pooling}",
        ]
        if self.options:
            lines.append(f"- options: `{json.dumps(self.options, sort_keys=True)}`")
        if self.training:
            lines += ["", "## Training", "", "```json", json.dumps(self.training, indent=2, sort_keys=True), "```"]
        if self.metrics:
            lines += ["", "## Validation metrics", "", "```json", json.dumps(self.metrics, indent=2, sort_keys=True), "```"]
        if self.notes:
            lines += ["", "## Notes", "", self.notes]
        return "\n".join(lines) + "\n"
