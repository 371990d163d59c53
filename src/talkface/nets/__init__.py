"""Pretrained networks shared by training and evaluation (frozen feature extractors)."""

from talkface.nets.vgg import LPIPS, VGG16_LAYERS, VGG16Features, lpips_weights_path

__all__ = ["LPIPS", "VGG16_LAYERS", "VGG16Features", "lpips_weights_path"]
