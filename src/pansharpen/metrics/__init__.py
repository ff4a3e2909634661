"""Quality indices exact to the reference MATLAB toolbox (Vivone et al. 2020).

Reduced resolution (fused vs reference): :func:`q2n`, :func:`q_index`, :func:`sam`,
:func:`ergas`, :func:`scc`, :func:`reduced_resolution_indices` (extras outside the toolbox:
:func:`psnr`, :func:`ssim`). Inputs are channels-first digital numbers, numpy or torch.
"""
from .reduced import (  # noqa: F401
    crop_borders,
    ergas,
    psnr,
    q2n,
    q_index,
    reduced_resolution_indices,
    sam,
    scc,
    ssim,
)
