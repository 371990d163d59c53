"""The lower-face shading network: a tiny U-Net from the warped face crop to a low-resolution gain map.

The native renderer (:mod:`talkface.render`) warps one photo to every frame's landmarks, so the skin
around the mouth keeps the photo's shading while the jaw moves; a real face darkens in the lip-chin
crease, under the lower lip and along the cheeks as it speaks. :class:`ShadingNet` predicts that
change as a *log luminance gain* on a coarse grid of the aligned face crop (``out_size``², e.g. 32²
for the 128² crop: one value per 4 crop pixels), from what the renderer has at that frame: the warped
(and painted) crop's grey levels, the landmark displacement from the photo's landmarks as a dense
field, and the lower-face mask. :mod:`talkface.render.shading` assembles the inputs and applies the
gain; :mod:`talkface.render.shading_train` trains it on GRID s1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["IN_CHANNELS", "ShadingNet", "ShadingNetConfig"]

#: input channels: warped grey crop, displacement x, displacement y, lower-face mask
IN_CHANNELS = 4


@dataclass
class ShadingNetConfig:
    """Shape of :class:`ShadingNet`.

    Attributes:
        in_size: side of the input crop, pixels (the aligned face crop resized).
        out_size: side of the predicted gain map (``in_size`` / 2, /4 or /8).
        width: channels of the first level (doubled at each of the 3 downsamplings, capped at 4x).
        max_gain: the output is ``max_gain * tanh(.)``: a bound on the log gain (0.35: x0.70 to x1.42).
        image: read the warped crop's grey levels (channel 0); False: the geometry only (displacement
            and mask; the grey channel is ignored), so the shading cannot depend on how the training
            face looks (docs/render.md "Lower-face shading": the image-conditioned version fails on
            faces unlike GRID s1's).
    """

    in_size: int = 64
    out_size: int = 32
    width: int = 8
    max_gain: float = 0.35
    image: bool = True

    def __post_init__(self) -> None:
        if self.in_size % 8 or self.in_size // self.out_size not in (2, 4, 8) or self.in_size % self.out_size:
            raise ValueError(f"in_size must be a multiple of 8 and 2, 4 or 8 times out_size, got "
                             f"{self.in_size}, {self.out_size}")
        if self.width < 1 or not 0 < self.max_gain <= 1:
            raise ValueError(f"width must be >= 1 and max_gain in (0, 1], got {self.width}, {self.max_gain}")


def _block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.LeakyReLU(0.1, inplace=True),
                         nn.Conv2d(c_out, c_out, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True))


class ShadingNet(nn.Module):
    """(B, 4, in, in) inputs -> (B, 1, out, out) log luminance gain.

    An encoder of three stride-2 levels (down to in/8, a receptive field covering the lower face, so
    the chin's shade can follow the lips) and a decoder with skip connections up to ``out_size``.

    Args:
        config: shape; None for the defaults.
    """

    def __init__(self, config: ShadingNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or ShadingNetConfig()
        w = self.config.width
        chans = [w, 2 * w, 4 * w, 4 * w]
        #: the decoder stops at this level (out_size = in_size / 2**stop)
        self.stop = {2: 1, 4: 2, 8: 3}[self.config.in_size // self.config.out_size]
        self.stem = _block(IN_CHANNELS, chans[0], 1)
        self.down = nn.ModuleList([_block(chans[i], chans[i + 1], 2) for i in range(3)])
        # decoder level i (i = 2 .. stop) joins the upsampled level i + 1 with skip i
        self.up = nn.ModuleList([_block(chans[i + 1] + chans[i], chans[i], 1) for i in range(self.stop, 3)])
        self.head = nn.Conv2d(chans[self.stop], 1, 3, 1, 1)
        nn.init.zeros_(self.head.weight)  # starts as "no change"
        nn.init.zeros_(self.head.bias)  # type: ignore[arg-type]  # (Conv2d's bias is set)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if x.shape[1:] != (IN_CHANNELS, cfg.in_size, cfg.in_size):
            raise ValueError(f"expected (B, {IN_CHANNELS}, {cfg.in_size}, {cfg.in_size}) inputs, got {tuple(x.shape)}")
        if not cfg.image:
            x = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:]], 1)
        skips = [self.stem(x)]
        for layer in self.down:
            skips.append(layer(skips[-1]))
        h = skips[-1]
        for level in range(2, self.stop - 1, -1):
            h = F.interpolate(h, size=skips[level].shape[-2:], mode="bilinear", align_corners=False)
            h = self.up[level - self.stop](torch.cat([h, skips[level]], 1))
        return cfg.max_gain * torch.tanh(self.head(h))
