"""Quality indices exact to the reference MATLAB toolbox (Vivone et al. 2020).

Reduced resolution (fused vs reference): :func:`q2n`, :func:`q_index`, :func:`sam`,
:func:`ergas`, :func:`scc`, :func:`reduced_resolution_indices` (extras outside the toolbox:
:func:`psnr`, :func:`ssim`). Full resolution (fused vs MS + PAN): :func:`d_lambda`,
:func:`d_s`, :func:`qnr`, :func:`d_lambda_k`, :func:`hqnr`, :func:`full_resolution_indices`;
reprojection protocol (Scarpa & Ciotola 2022): :func:`reproject`, :func:`reprojection_indices`
(R-Q2n, R-SAM, R-ERGAS), :func:`d_rho`.
Over a test set: :func:`aggregate` (mean ± std N-1) and :func:`format_table` (paper order).
Inputs are channels-first digital numbers, numpy or torch.
"""
from .full import d_lambda, d_lambda_k, d_s, full_resolution_indices, hqnr, qnr  # noqa: F401
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
from .reprojection import d_rho, reproject, reprojection_indices  # noqa: F401
from .table import FR_ORDER, RR_ORDER, aggregate, format_table, order_names  # noqa: F401
