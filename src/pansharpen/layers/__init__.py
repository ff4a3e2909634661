"""Convolution layers from the papers, as ``torch.nn`` modules with a functional core.

* :class:`SpanConv` (IJCAI 2022), :class:`LGPConv` (IJCAI 2023), :class:`BSConv` (CVPR 2020);
* :func:`fold_modules` / ``layer.fold()``: exact dense-conv inference forms.
"""
from __future__ import annotations

import importlib.util as _util

from .bsconv import BSConv, bs_conv2d, bs_effective_kernel, bs_param_count  # noqa: F401
from .fold import FoldedConv2d, fold_modules  # noqa: F401
from .lgp import LGP_MODES, LGPConv, lgp_conv2d, lgp_effective_kernel, lgp_param_count  # noqa: F401
from .span import SpanConv, span_conv2d, span_effective_kernel, span_param_count  # noqa: F401

__all__ = ["SpanConv", "LGPConv", "BSConv", "FoldedConv2d", "fold_modules"]

# Ada3D is written by another developer: export it once its module exists.
if _util.find_spec(f"{__name__}.ada3d") is not None:
    from .ada3d import Ada3D  # noqa: F401

    __all__.append("Ada3D")
