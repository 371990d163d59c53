"""The sync network: a compact two-stream SyncNet as a plain :class:`torch.nn.Module`, and its files.

SyncNet-style two streams, late comparison (Chung & Zisserman 2016):

* video: a 3-D conv net over grey mouth crops (:mod:`talkface.eval.sync.inputs`) whose temporal
  receptive field is 5 frames (0.2 s at 25 fps) gives one embedding per 5-frame window;
* audio: a 1-D conv net over the log-mel whose receptive field is the 20 mel frames (0.2 s) of
  the same 5 video frames;
* both embeddings are L2-normalised; the distance is Euclidean.

:func:`export_syncnet` / :func:`load_syncnet` write and read the small inference file (fp16
weights and the config); the bundled model is ``talkface/assets/syncnet.pt``. Training lives
apart (:mod:`talkface.eval.sync.module`, :mod:`talkface.eval.sync.train`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from talkface.eval.sync.inputs import MEL_PER_FRAME
from talkface.io.checkpoint import load_inference_file, save_inference_file


@dataclass
class SyncNetConfig:
    """Architecture of :class:`SyncNet`.

    Attributes:
        embed_dim: size of the audio and video embeddings.
        mouth_size: (height, width) of the grey mouth crops, pixels.
        n_mels: mel bands of the audio input.
        video_channels: widths of the five video conv layers.
        audio_channels: widths of the audio conv layers.
        window: frames per window (the receptive field; fixed at 5 by the layer layout).
        init_temperature: initial softmax temperature of the InfoNCE loss (learned).
        audio_context: extra video frames of audio the audio stream hears on *each* side of the
            5-frame window (0: exactly the window's 0.2 s, as SyncNet; 2: 0.36 s). Each adds one
            residual kernel-3 layer to :class:`_AudioEncoder`; the embedding stays aligned with
            video window t (:meth:`SyncNet.embed_audio`).
    """

    embed_dim: int = 128
    mouth_size: tuple[int, int] = (48, 96)
    n_mels: int = 40
    video_channels: tuple[int, int, int, int, int] = (16, 32, 64, 128, 256)
    audio_channels: tuple[int, int] = (128, 256)
    window: int = 5
    init_temperature: float = 0.07
    audio_context: int = 0


def _bn_relu(conv: nn.Module, channels: int) -> list[nn.Module]:
    """``conv`` followed by 3-D batch norm and ReLU."""
    return [conv, nn.BatchNorm3d(channels), nn.ReLU(inplace=True)]


class _AudioEncoder(nn.Module):
    """Log-mel -> one vector per 40 ms step, receptive field 20 mel frames (0.2 s).

    A 1-D conv net written with linear layers on unfolded frames (several times faster than
    ``nn.Conv1d`` on CPU at these sizes): 4 mel frames -> token (kernel 4, stride 4), a
    pointwise layer, then two kernel-3 layers over tokens (receptive field 5 tokens = 20 mel
    frames), each followed by LayerNorm and ReLU, and a linear head.
    """

    def __init__(self, config: SyncNetConfig) -> None:
        super().__init__()
        a1, a2 = config.audio_channels
        self.token = nn.Linear(MEL_PER_FRAME * config.n_mels, a1)
        self.point = nn.Linear(a1, a1)
        self.conv1 = nn.Linear(3 * a1, a2)
        self.conv2 = nn.Linear(3 * a2, a2)
        # each context layer widens the receptive field by one token on each side
        self.context = nn.ModuleList([nn.Linear(3 * a2, a2) for _ in range(config.audio_context)])
        self.head = nn.Linear(a2, config.embed_dim)
        self.norms = nn.ModuleList([nn.LayerNorm(a1), nn.LayerNorm(a1), nn.LayerNorm(a2), nn.LayerNorm(a2)])
        self.context_norms = nn.ModuleList([nn.LayerNorm(a2) for _ in range(config.audio_context)])

    @staticmethod
    def _unfold3(x: torch.Tensor) -> torch.Tensor:
        """(B, L, C) -> (B, L - 2, 3C): each step with its two successors."""
        return torch.cat([x[:, :-2], x[:, 1:-1], x[:, 2:]], dim=-1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, M, n_mels) -> (B, M // 4 - 4 - 2 * audio_context, D), not normalised.

        Row t covers mel frames 4t .. 4t + 19 + 8 * audio_context.
        """
        b, m, c = mel.shape
        steps = m // MEL_PER_FRAME
        x = mel[:, : steps * MEL_PER_FRAME].reshape(b, steps, MEL_PER_FRAME * c)
        x = F.relu(self.norms[0](self.token(x)))
        x = F.relu(self.norms[1](self.point(x)))
        x = F.relu(self.norms[2](self.conv1(self._unfold3(x))))
        x = F.relu(self.norms[3](self.conv2(self._unfold3(x))))
        for layer, norm in zip(self.context, self.context_norms, strict=True):
            x = F.relu(norm(layer(self._unfold3(x)))) + x[:, 1:-1]
        return self.head(x)


class SyncNet(nn.Module):
    """Two-stream sync network: mouth windows and audio windows -> unit-length embeddings.

    Both streams are fully convolutional in time, so a whole clip is embedded in one pass:
    video output t covers frames t..t+4, audio output t covers mel frames 4t..4t+19 (the same
    0.2 s at 25 fps).

    Args:
        config: Architecture (defaults if None).
    """

    def __init__(self, config: SyncNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or SyncNetConfig()
        c = self.config
        if c.window != 5:
            raise ValueError("SyncNet's layer layout gives a 5-frame window")
        v1, v2, v3, v4, v5 = c.video_channels
        h, w = c.mouth_size
        hh, ww = math.ceil(h / 16), math.ceil(w / 16)  # after four stride-2 layers
        self.video = nn.Sequential(
            *_bn_relu(nn.Conv3d(1, v1, (3, 5, 5), stride=(1, 2, 2), padding=(0, 2, 2), bias=False), v1),
            *_bn_relu(nn.Conv3d(v1, v2, (3, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), bias=False), v2),
            *_bn_relu(nn.Conv3d(v2, v3, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), bias=False), v3),
            *_bn_relu(nn.Conv3d(v3, v4, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), bias=False), v4),
            *_bn_relu(nn.Conv3d(v4, v5, (1, hh, ww), bias=False), v5),
            nn.Conv3d(v5, c.embed_dim, 1),
        )
        self.audio = _AudioEncoder(c)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / c.init_temperature)))

    def embed_video(self, mouths: torch.Tensor) -> torch.Tensor:
        """Embed every 5-frame window of mouth-crop sequences.

        Args:
            mouths: (B, T, H, W) float, each frame normalised (:meth:`normalize_mouths`), T >= 5.

        Returns:
            (B, T - 4, D) unit-length embeddings; row t covers frames t..t+4.
        """
        out = self.video(mouths.unsqueeze(1))  # (B, D, T-4, 1, 1)
        return F.normalize(out.flatten(2).transpose(1, 2), dim=-1)

    def embed_audio(self, mel: torch.Tensor, pad: bool = True) -> torch.Tensor:
        """Embed every 0.2 s audio window of log-mel sequences.

        Args:
            mel: (B, M, n_mels) float from :func:`~talkface.eval.sync.inputs.log_mel`, M >= 20.
            pad: With ``audio_context`` > 0: pad the log-mel with zeros (its normalised mean) by the
                context on both sides, so that row t is aligned with video window t. False: ``mel``
                already holds that context (training items); row t then starts at mel frame
                4 (t + audio_context).

        Returns:
            (B, M // 4 - 4, D) unit-length embeddings (fewer by 2 ``audio_context`` when not padded); row t
            covers mel frames 4t..4t+19 and the context around them.
        """
        ctx = self.config.audio_context * MEL_PER_FRAME
        if ctx and pad:
            mel = F.pad(mel, (0, 0, ctx, ctx))
        return F.normalize(self.audio(mel), dim=-1)

    @staticmethod
    def normalize_mouths(mouths: torch.Tensor) -> torch.Tensor:
        """uint8-valued (B, T, H, W) mouth crops -> float, each frame zero mean / unit variance."""
        x = mouths.float()
        mean = x.mean(dim=(-2, -1), keepdim=True)
        std = x.std(dim=(-2, -1), keepdim=True)
        return (x - mean) / (std + 1.0)

    def forward(
        self, mouths: torch.Tensor, mel: torch.Tensor, pad: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Video and audio embeddings: ``(embed_video(normalize_mouths(mouths)), embed_audio(mel, pad))``."""
        return self.embed_video(self.normalize_mouths(mouths)), self.embed_audio(mel, pad)


def default_syncnet_path() -> Path:
    """Path of the bundled model ``talkface/assets/syncnet.pt``."""
    return Path(str(resources.files("talkface").joinpath("assets", "syncnet.pt")))


def export_syncnet(model: SyncNet, dest: str | os.PathLike[str], meta: dict[str, Any] | None = None) -> Path:
    """Write a small inference file: fp16 weights, the config and ``meta`` (atomic).

    Args:
        model: A trained :class:`SyncNet`.
        dest: Output ``.pt`` path.
        meta: JSON-like facts to keep with it (training data, validation numbers).

    Returns:
        ``dest`` as a Path.
    """
    return save_inference_file(model, "talkface-syncnet", dest, meta)


def load_syncnet(path: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu") -> SyncNet:
    """Load a model written by :func:`export_syncnet` (default: the bundled one), in eval mode, fp32.

    Raises:
        InputError: The file is missing or not a talkface SyncNet file.
    """
    p = path if path is not None else default_syncnet_path()
    return load_inference_file(p, "talkface-syncnet", "sync model", SyncNetConfig, SyncNet, device)
