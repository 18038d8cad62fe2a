"""MNIST and Fashion-MNIST images: class-conditional diffusion with the U-Net, checked PNG
grids, and a local classifier's accuracy, Fréchet distance and KID."""

from molediff.domains.images.domain import ImagesDomain

__all__ = ["ImagesDomain"]
