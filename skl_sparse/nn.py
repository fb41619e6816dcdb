"""Torch modules: convolutions whose kernels are learnable Gabor filters (`GaborConv2d`),
the functions that render and read Gabor filters, and the lecture's angle
parameterisation (`AngleGaborConv2d`) they are compared with. The code and its math live
in `skl_sparse.gabor`.
"""

from .gabor._conv import (
    MAX_FREQUENCY,
    AngleGaborConv2d,
    GaborConv2d,
    angle_phase,
    angle_wave,
    free_wave,
    gabor_filters,
    gabor_readout,
    init_gabor_parameters,
    render_gabor,
    wave_vector,
)

__all__ = [
    "MAX_FREQUENCY",
    "AngleGaborConv2d",
    "GaborConv2d",
    "angle_phase",
    "angle_wave",
    "free_wave",
    "gabor_filters",
    "gabor_readout",
    "init_gabor_parameters",
    "render_gabor",
    "wave_vector",
]
