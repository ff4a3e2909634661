"""Ada3D networks (``ConvNet3D`` of the Ada3D paper) for pansharpening, hyperspectral
pansharpening and hyperspectral image super-resolution (HISR), plus the importer of the
authors' hyperspectral checkpoints.

Skeleton (ms: low-resolution (B, L, h, w); pan: guide (B, G, rh, rw); r = ratio = 4)::

    U  = up(ms)                                   learned Conv2d(L->r^2 L, 3x3, no bias)+PixelShuffle(r)
                                                  (pan) or bicubic x r, align_corners=False (hs, hisr)
    y  = LReLU(Conv2d(L+G -> Cs, 3x3)([U, pan]))  guide features (B, Cs, H, W)
    x  = LReLU(Conv3d(1 -> C, 3x3x3)(U[:, None]))  cube features  (B, C, L, H, W)
    for each stage:  y = y + Conv2d(h_r->Cs)(LReLU(Conv2d(Cs->h_r)(y)))
                     x = x + Ada3D_b(LReLU(Ada3D_a(x, y)), y)
    x  = Conv3d(C -> 1, 3x3x3)(x)[:, 0]
    x  = x + Conv2d(L->L)(LReLU(Conv2d(L->L)(x)))   (pan only: "refine")
    out = x + U

All LReLU slopes are 0.2. ``lms`` is not used (the network upsamples ``ms`` itself).

Global pooling: every Ada3D layer pools its inputs over the whole image. For tiled
inference compute the statistics once per scene with :meth:`Ada3DNet.global_stats` and
pass them to every tile: ``model(ms_tile, pan_tile, stats=stats)``; with a halo of at
least :meth:`Ada3DNet.receptive_field` PAN pixels the tiles then equal the whole image.
"""
from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelError, ShapeError, ValueRangeError
from ..layers.ada3d import Ada3D
from .base import FusionModel
from .checkpoints import register_importer
from .registry import create, register

PAPER = (
    "Adaptive 3D Convolution for remote sensing image fusion (Ada3D), IEEE TIP 2026, arXiv 2605.09455; "
    "code github.com/PSRben/Ada3D"
)
_SLOPE = 0.2


class _GuideBlock(nn.Module):
    """Residual 2-D block on the guide features: ``y + conv1(LReLU(conv0(y)))``."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.conv0 = nn.Conv2d(channels, hidden, 3, padding=1)
        self.conv1 = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y + self.conv1(F.leaky_relu(self.conv0(y), _SLOPE))


class _Stage(nn.Module):
    def __init__(self, cube_channels, guide_channels, res_hidden, ada_options):
        super().__init__()
        self.guide = _GuideBlock(guide_channels, res_hidden)
        self.first = Ada3D(cube_channels, guide_channels, **ada_options)
        self.second = Ada3D(cube_channels, guide_channels, **ada_options)


class Ada3DNet(FusionModel):
    """Ada3D fusion network; see the module docstring for the data flow.

    Args:
        bands: L, bands of ``ms`` (any count).
        guide_bands: G, channels of the guide (1 = PAN, 3 = RGB).
        cube_channels: C, feature channels of the 3-D stream.
        guide_channels: Cs, feature channels of the 2-D stream.
        stages: number of stages (each: one guide block + two Ada3D layers).
        spectral_ratio, spatial_ratio, bias_ratio: Ada3D hidden-width ratios (see :class:`Ada3D`).
        res_ratio: hidden width of the guide block = ``int(Cs * res_ratio)``.
        upsampling: ``"learned"`` (conv + PixelShuffle) or ``"bicubic"``.
        refine: add the final 2-D residual refinement (pansharpening configuration).
        bias: Ada3D bias form, ``"bounded"`` (default) or ``"reference"`` (authors', for imports).
        ratio: resolution ratio between guide and ms.

    Input ``ms`` (B, L, h, w) and ``pan`` (B, G, h*ratio, w*ratio), values normalised to about
    [0, 1]; output (B, L, h*ratio, w*ratio).
    """

    needs_lms = False
    global_pooling = True

    def __init__(
        self,
        bands: int,
        guide_bands: int = 1,
        cube_channels: int = 8,
        guide_channels: int = 32,
        stages: int = 3,
        spectral_ratio: float = 1.0,
        spatial_ratio: float = 1.0,
        bias_ratio: float = 0.25,
        res_ratio: float = 1.0,
        upsampling: str = "bicubic",
        refine: bool = False,
        bias: str = "bounded",
        ratio: int = 4,
    ):
        super().__init__()
        if upsampling not in ("learned", "bicubic"):
            raise ModelError(f"upsampling must be 'learned' or 'bicubic'; got {upsampling!r}")
        if not isinstance(ratio, int) or ratio < 2:
            raise ModelError(f"ratio must be an integer >= 2; got {ratio!r}")
        if bias not in ("reference", "bounded"):
            raise ModelError(f"bias must be 'bounded' (default) or 'reference' (authors' form); got {bias!r}")
        self.bands, self.guide_bands, self.ratio = bands, guide_bands, ratio
        self.upsampling, self.has_refine = upsampling, refine
        L, G, C, Cs = bands, guide_bands, cube_channels, guide_channels
        if upsampling == "learned":
            self.upsample_conv = nn.Conv2d(L, L * ratio * ratio, 3, padding=1, bias=False)
        self.guide_head = nn.Conv2d(L + G, Cs, 3, padding=1)
        self.cube_head = nn.Conv3d(1, C, 3, padding=1)
        ada = dict(spectral_ratio=spectral_ratio, spatial_ratio=spatial_ratio, bias_ratio=bias_ratio, bias=bias)
        self.stages = nn.ModuleList(_Stage(C, Cs, int(Cs * res_ratio), ada) for _ in range(stages))
        self.cube_tail = nn.Conv3d(C, 1, 3, padding=1)
        if refine:
            self.refine = _GuideBlock(L, L)

    # -- the pieces -------------------------------------------------------------------------
    def upsample(self, ms: torch.Tensor) -> torch.Tensor:
        """``ms`` (B, L, h, w) -> (B, L, rh, rw): learned PixelShuffle or bicubic (align_corners=False)."""
        if self.upsampling == "learned":
            return F.pixel_shuffle(self.upsample_conv(ms), self.ratio)
        return F.interpolate(ms, scale_factor=self.ratio, mode="bicubic", align_corners=False)

    def ada3d_layers(self) -> Iterator[tuple[str, Ada3D]]:
        """(name, layer) of every Ada3D layer in forward order (the keys of :meth:`global_stats`)."""
        for i, stage in enumerate(self.stages):
            yield f"stages.{i}.first", stage.first
            yield f"stages.{i}.second", stage.second

    def _run(self, ms, pan, stats=None, record=None, capture=None) -> torch.Tensor:
        """The forward. ``stats``: pooled statistics to use; ``record``: dict that receives the ones
        used; ``capture = (k, rows, cols)``: stop at the k-th Ada3D layer and return the sums over
        ``[rows, cols]`` of its cube and guide inputs (for :meth:`global_stats` by tiles)."""
        up = self.upsample(ms)
        y = F.leaky_relu(self.guide_head(torch.cat([up, pan], 1)), _SLOPE)
        x = F.leaky_relu(self.cube_head(up[:, None]), _SLOPE)
        index = 0

        class _Captured(Exception):
            pass

        def pooled(name, layer, cube, guide):
            nonlocal index
            if capture is not None and index == capture[0]:
                _, rows, cols = capture
                raise _Captured((cube[..., rows, cols].sum((3, 4)), guide[..., rows, cols].sum((2, 3))))
            index += 1
            if stats is None:
                value = layer.pool(cube, guide)
            else:
                value = (stats[f"{name}.cube"], stats[f"{name}.guide"])
            if record is not None:
                record[f"{name}.cube"], record[f"{name}.guide"] = value
            return value

        try:
            for i, stage in enumerate(self.stages):
                y = stage.guide(y)
                a = stage.first(x, y, pooled(f"stages.{i}.first", stage.first, x, y))
                a = F.leaky_relu(a, _SLOPE, inplace=not torch.is_grad_enabled())
                b = stage.second(a, y, pooled(f"stages.{i}.second", stage.second, a, y))
                del a
                x = x + b
                del b
        except _Captured as done:
            return done.args[0]
        x = self.cube_tail(x)[:, 0]
        if self.has_refine:
            x = self.refine(x)
        return x + up

    # -- public API ------------------------------------------------------------------------
    def forward(self, ms, pan, lms=None, stats: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """``ms`` (B, L, h, w), ``pan`` (B, G, rh, rw) -> (B, L, rh, rw). ``lms`` is accepted and ignored.

        ``stats``: image-wide pooled statistics from :meth:`global_stats` (for tiles of a scene).
        """
        self.validate(ms, pan, lms)
        if stats is not None:
            self._check_stats(stats, ms.shape[0])
        return self._run(ms, pan, stats=stats)

    def validate(self, ms, pan, lms) -> None:
        for label, t in (("ms", ms), ("pan", pan)):
            if not isinstance(t, torch.Tensor):
                raise ShapeError(f"{type(self).__name__}: {label} must be a torch tensor (N, C, H, W); got {type(t).__name__}")
            if not t.is_floating_point():
                raise ValueRangeError(
                    f"{type(self).__name__}: {label} has dtype {t.dtype}; the network takes floating-point values "
                    "normalised to about [0, 1] (digital numbers divided by the card's normaliser)"
                )
        super().validate(ms, pan, lms)
        weight = self.guide_head.weight
        if ms.dtype != weight.dtype or pan.dtype != weight.dtype:
            raise ModelError(
                f"{type(self).__name__}: the weights are {weight.dtype} but ms is {ms.dtype} and pan {pan.dtype}; "
                f"convert the inputs (tensor.to({weight.dtype})) or the model (model.to(dtype))"
            )

    def fuse(self, ms, pan, lms=None):
        return self._run(ms, pan)

    @torch.no_grad()
    def global_stats(self, ms: torch.Tensor, pan: torch.Tensor, tile: int | None = None) -> dict[str, torch.Tensor]:
        """Image-wide pooled statistics of every Ada3D layer.

        Returns ``{"stages.<i>.<first|second>.cube": (B, C, L), "...guide": (B, Cs)}``: the means over
        (H, W) of each layer's cube and guide inputs. Pass them to ``forward(..., stats=...)`` for
        every tile of the same scene.

        ``tile=None``: one whole-image forward. ``tile=n``: the same values (exact, up to float
        rounding) in bounded memory from tiles of n x n MS pixels with a halo of
        :meth:`receptive_field`, one layer after the other: layer k's statistics are summed over
        the tile cores with layers < k already using the image-wide values. Costs about
        (number of Ada3D layers + 1) / 2 forwards plus the halo overhead.
        """
        self.validate(ms, pan, None)
        if tile is None:
            record: dict[str, torch.Tensor] = {}
            self._run(ms, pan, record=record)
            return record
        if not isinstance(tile, int) or tile < 1:
            raise ShapeError(f"tile must be a positive number of MS pixels; got {tile!r}")
        r = self.ratio
        halo = -(-self.receptive_field() // r)
        h, w = ms.shape[-2:]
        stats: dict[str, torch.Tensor] = {}
        for k, (name, _) in enumerate(self.ada3d_layers()):
            cube_sum = guide_sum = 0
            for i in range(0, h, tile):
                for j in range(0, w, tile):
                    i0, j0 = max(0, i - halo), max(0, j - halo)
                    i1, j1 = min(h, i + tile + halo), min(w, j + tile + halo)
                    rows = slice((i - i0) * r, (min(h, i + tile) - i0) * r)
                    cols = slice((j - j0) * r, (min(w, j + tile) - j0) * r)
                    part = self._run(ms[..., i0:i1, j0:j1], pan[..., i0 * r : i1 * r, j0 * r : j1 * r], stats=stats,
                                     capture=(k, rows, cols))
                    cube_sum, guide_sum = cube_sum + part[0], guide_sum + part[1]
            pixels = h * w * r * r
            stats[f"{name}.cube"], stats[f"{name}.guide"] = cube_sum / pixels, guide_sum / pixels
        return stats

    def _check_stats(self, stats, batch):
        for name, layer in self.ada3d_layers():
            for part, shape in (("cube", (layer.channels, self.bands)), ("guide", (layer.guide_channels,))):
                key = f"{name}.{part}"
                if key not in stats:
                    raise ShapeError(f"stats lacks {key!r}; compute them with model.global_stats(ms, pan)")
                got = tuple(stats[key].shape)
                if got[1:] != shape or got[0] not in (1, batch):
                    raise ShapeError(f"stats[{key!r}] is {got}; this model needs ({batch}, {', '.join(map(str, shape))})")

    def receptive_field(self) -> int:
        """Radius in PAN pixels of the local neighbourhood that influences one output pixel
        (global pooling aside): the tiling halo."""
        r = self.ratio
        # distance to the farthest PAN pixel under an MS pixel that the upsampling reads:
        # learned 3x3 conv at MS scale 2r-1, bicubic (4 taps, half-pixel centres) 2r+1
        rf_up = 2 * r - 1 if self.upsampling == "learned" else 2 * r + 1
        x = y = rf_up + 1
        for _ in self.stages:
            y += 2
            a = max(x + 1, y + 2)
            b = max(a + 1, y + 2)
            x = max(x, b)
        x += 1
        if self.has_refine:
            x += 2
        return max(x, rf_up)

    def extra_macs(self, ms: torch.Tensor | None = None, pan: torch.Tensor | None = None) -> float:
        """Element-wise MACs outside convolutions (invisible to a FLOP counter), per Ada3D layer
        2*T*C*L per output pixel: T*C*L for the adaptive correlation and T*C*L multiplies
        forming K_spe*K_spa (as the authors' tables count them). Total for one forward on
        ``(ms, pan)`` (the helper in :mod:`pansharpen.models.complexity` calls it so), or per
        output pixel when called without inputs."""
        per_pixel = sum(layer.extra_macs(self.bands) for _, layer in self.ada3d_layers())
        if pan is None:
            return float(per_pixel)
        return float(per_pixel * pan.shape[0] * pan.shape[-2] * pan.shape[-1])

    def conv_macs(self, size: int = 64) -> float:
        """Convolution MACs of one forward at ``size x size`` PAN pixels, batch 1 (analytic; what
        ``torch.utils.flop_counter`` counts: no bias adds, activations or element-wise work)."""
        L, G, r, P = self.bands, self.guide_bands, self.ratio, size * size
        macs = 0.0
        if self.upsampling == "learned":
            macs += 9 * L * (L * r * r) * P / (r * r)
        macs += 9 * (L + G) * self.guide_head.out_channels * P
        C = self.cube_head.out_channels
        macs += 27 * C * L * P * 2  # cube head (1 -> C) and tail (C -> 1) over L*H*W voxels
        for stage in self.stages:
            macs += 9 * P * (stage.guide.conv0.in_channels * stage.guide.conv0.out_channels * 2)
            for layer in (stage.first, stage.second):
                spe0, _, spe1 = layer.spectral_generator
                spa0, _, spa1 = layer.spatial_generator
                chan0, _, chan1 = layer.bias.channel
                macs += 3 * L * (spe0.in_channels * spe0.out_channels + spe1.in_channels * spe1.out_channels)
                macs += 9 * P * (spa0.in_channels * spa0.out_channels + spa1.in_channels * spa1.out_channels)
                macs += 3 * L * layer.channels + 9 * P * layer.guide_channels  # spectral, spatial bias
                macs += chan0.in_channels * chan0.out_channels + chan1.in_channels * chan1.out_channels
        if self.has_refine:
            macs += 2 * 9 * L * L * P
        return macs

    def macs_per_pixel(self, size: int = 64) -> float:
        """Total MACs per output pixel at ``size x size``: convolutions + :meth:`extra_macs`."""
        return self.conv_macs(size) / (size * size) + self.extra_macs()


# -- configurations (seed-implementations.md section 3.2) -----------------------------------
def _options(defaults: dict, options: dict) -> dict:
    unknown = set(options) - set(defaults) - {"bias", "ratio"}
    if unknown:
        raise ModelError(f"unknown Ada3D options {sorted(unknown)}; allowed: bias, ratio, {', '.join(sorted(defaults))}")
    return {**defaults, **options}


_PAN = dict(guide_bands=1, cube_channels=48, guide_channels=48, stages=4, spectral_ratio=0.25, spatial_ratio=0.25,
            bias_ratio=1 / 32, res_ratio=0.5, upsampling="learned", refine=True)
_HS = dict(guide_bands=1, cube_channels=8, guide_channels=32, stages=3, spectral_ratio=1.0, spatial_ratio=1.0,
           bias_ratio=0.25, res_ratio=1.0, upsampling="bicubic", refine=False)
_HISR = dict(guide_bands=3, cube_channels=32, guide_channels=64, stages=4, spectral_ratio=0.5, spatial_ratio=0.375,
             bias_ratio=0.125, res_ratio=1.0, upsampling="bicubic", refine=False)


@register("ada3d-pan", paper=PAPER, description="Ada3D for pansharpening (C=Cs=48, 4 stages, learned upsampling, refine)",
          global_pooling=True)
def ada3d_pan(bands: int = 8, **options) -> Ada3DNet:
    """Pansharpening configuration: 1,677,897 parameters for 8 bands (1,668,385 for 4).

    The authors' bias hidden width is dim/16 = 3; our Ada3D counts it from C+Cs, hence 1/32."""
    return Ada3DNet(bands, **_options(_PAN, options))


@register("ada3d-hs", paper=PAPER, description="Ada3D for hyperspectral pansharpening (C=8, Cs=32, 3 stages, bicubic)",
          global_pooling=True)
def ada3d_hs(bands: int = 191, **options) -> Ada3DNet:
    """Hyperspectral pansharpening: 579,761 / 554,129 / 566,513 parameters for 191 / 102 / 145 bands."""
    return Ada3DNet(bands, **_options(_HS, options))


@register("ada3d-hisr", paper=PAPER, description="Ada3D for HSI super-resolution with an RGB guide (C=32, Cs=64, 4 stages)",
          global_pooling=True, guide_bands=3)
def ada3d_hisr(bands: int = 31, **options) -> Ada3DNet:
    """HISR with an RGB guide: 2,296,657 parameters for 31 bands."""
    return Ada3DNet(bands, **_options(_HISR, options))


# -- the authors' hyperspectral checkpoints ---------------------------------------------------
_REFERENCE_RENAMES = (
    ("raise_spa_dim.0.", "guide_head."),
    ("raise_spe_dim.0.", "cube_head."),
    ("retore_dim.", "cube_tail."),  # sic: the authors' key
    (".spectral_kernel.attention.", ".spectral_generator."),
    (".spatial_kernel.attention.", ".spatial_generator."),
    (".bias.create_spectral.", ".bias.spectral."),
    (".bias.create_spatial.", ".bias.spatial."),
    (".bias.create_channel.", ".bias.channel."),
)


def _rename_reference_key(key: str) -> str:
    parts = key.split(".")
    if parts[0] == "spatial_layers" and len(parts) > 2:  # spatial_layers.i.convN -> stages.i.guide.convN
        key = ".".join(["stages", parts[1], "guide", *parts[2:]])
    elif parts[0] == "spectral_layers" and len(parts) > 2:  # spectral_layers.i.conv0/1 -> stages.i.first/second
        which = {"conv0": "first", "conv1": "second"}.get(parts[2], parts[2])
        key = ".".join(["stages", parts[1], which, *parts[3:]])
    for old, new in _REFERENCE_RENAMES:
        if old.startswith("."):
            key = key.replace(old, new)
        elif key.startswith(old):
            key = new + key[len(old):]
    return key


def from_reference_state_dict(state: dict[str, torch.Tensor], bands: int | None = None) -> Ada3DNet:
    """Build ``ada3d-hs`` (``bias="reference"``) from the authors' hyperspectral ``ConvNet3D`` state dict.

    The band count is read from ``raise_spa_dim.0.weight`` (Cs, L + 1, 3, 3); ``bands``, if given,
    must agree. Raises :class:`ModelError` for another architecture, configuration or band count.
    """
    head = state.get("raise_spa_dim.0.weight")
    if head is None or "retore_dim.weight" not in state or not any(k.startswith("spectral_layers.") for k in state):
        raise ModelError(
            "not an Ada3D hyperspectral ConvNet3D checkpoint (no raise_spa_dim / retore_dim / spectral_layers keys); "
            "use the importer that matches the checkpoint's architecture (`pansharpen import-weights --help`)"
        )
    found = head.shape[1] - 1
    if bands is not None and bands != found:
        raise ModelError(f"the checkpoint is for {found} bands, not {bands}; use data with {found} bands")
    model = create("ada3d-hs", bands=found, bias="reference")
    mine = model.state_dict()
    renamed = {_rename_reference_key(k): v for k, v in state.items()}
    missing = sorted(set(mine) - set(renamed))
    unexpected = sorted(set(renamed) - set(mine))
    wrong = sorted(k for k in set(mine) & set(renamed) if mine[k].shape != renamed[k].shape)
    if missing or unexpected or wrong:
        raise ModelError(
            "the checkpoint does not fit the Ada3D hyperspectral configuration (C=8, Cs=32, 3 stages): "
            f"missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shapes {wrong[:3]}"
            f"{' ...' if len(missing) + len(unexpected) + len(wrong) > 3 else ''}"
        )
    model.load_state_dict(renamed, strict=True)
    return model.eval()


@register_importer("ada3d-hs", "Ada3D hyperspectral pansharpening checkpoints (PSRben/Ada3D weights/hspansharpening/*.pth)")
def import_ada3d_hs(state: dict[str, torch.Tensor]) -> Ada3DNet:
    return from_reference_state_dict(state)
