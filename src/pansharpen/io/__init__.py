"""Readers and writers.

* :mod:`pansharpen.io.pancollection` -- PanCollection h5 / .mat files (lazy), writers, torch Dataset;
* :mod:`pansharpen.io.raster` -- GeoTIFF images and PAN/MS pairs (rasterio) with grid checks;
* :mod:`pansharpen.io.windows` -- :class:`~pansharpen.io.windows.Window`, the one pixel-region type;
* :mod:`pansharpen.io.sources` / :mod:`pansharpen.io.grid` -- windowed readers and PAN/MS pair geometry (tiles);
* :mod:`pansharpen.io.arrays` -- ``.npy`` images stored ``H x W x C``;
* :mod:`pansharpen.io.samples` -- the ``dgsamples`` sample products by sensor name.

Submodules are imported on use so that ``import pansharpen`` does not load rasterio or h5py.
"""
