"""End-to-end speech-driven facial animation with a temporal GAN (Vougioukas et al., BMVC 2018).

Networks (the paper's Fig. 2-3 and appendix A; layer counts given for 128 x 128 frames):

* :class:`AudioEncoder` — 7 layers of 1-D convolutions over one 0.16-s raw-waveform window per video
  frame (a large first kernel of 5 ms with a 1-ms stride, then kernel-4/stride-2 layers, then one
  layer spanning what is left) -> 256-d; or :class:`MFCCAudioEncoder` (MFCCs of the same window,
  5 convolutions + 2 fully connected layers, as in the multi-discriminator paper).
* :class:`ContextEncoder` — the audio encoder followed by a 2-layer GRU (256) -> ``z_c``.
* :class:`IdentityEncoder` — 6 strided convolutions (BN, ReLU) -> 50-d ``z_id`` (tanh), keeping its
  hidden feature maps for the U-Net skip connections.
* :class:`NoiseGenerator` — a 1-layer GRU over 10-d Gaussian noise (variance 0.6) -> ``z_n``.
* :class:`FrameDecoder` — strided transposed convolutions from ``[z_c, z_id, z_n]`` to a frame
  (tanh), the identity encoder's maps concatenated on the way up (U-Net).
* :class:`FrameDiscriminator` — 6-layer CNN on the frame concatenated channel-wise with the still.
* :class:`SequenceDiscriminator` — per-frame CNN + audio encoder -> 2-layer GRU -> 2-layer classifier
  on the last step (conditioned on the audio).
* :class:`SPPSequenceDiscriminator` — the same, but the GRU outputs of all steps are pooled by a 1-D
  spatial pyramid (:class:`SpatialPyramidPool1d`), so the classifier sees a fixed-size vector for any
  sequence length (multi-discriminator paper, sec. III.6).

Loss (eq. 1-3): the two discriminators' adversarial losses plus ``λ = 400`` times an L1 loss on the
lower half of the frame (:func:`lower_half_l1`). :class:`TemporalGAN` trains them with the one
training core (:mod:`talkface.train.core`), with the paper's learning rates.

Generation is frame by frame with the GRU states carried over, so a video can be streamed from an
audio stream of any length in constant memory (:func:`generate_stream`).

Conventions: frames are float tensors in [-1, 1], channels first: a sequence is ``(B, T, 3, H, W)``.
Audio enters as per-frame raw windows ``(B, T, W)`` float32 (W = ``window_s * sample_rate``
samples, frame ``t`` centred at ``t / fps`` s as in :func:`talkface.audio.windows.raw_windows`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from talkface.audio.windows import raw_windows
from talkface.train.core import TalkfaceModule

__all__ = [
    "ABLATIONS",
    "AudioEncoder",
    "ContextEncoder",
    "E2EConfig",
    "FrameDecoder",
    "FrameDiscriminator",
    "Generator",
    "GeneratorState",
    "IdentityEncoder",
    "MFCCAudioEncoder",
    "NoiseGenerator",
    "SPPSequenceDiscriminator",
    "SequenceDiscriminator",
    "SpatialPyramidPool1d",
    "TemporalGAN",
    "ablation_config",
    "frames_to_uint8",
    "generate_batch",
    "generate_stream",
    "images_to_tensor",
    "lower_half_l1",
    "lower_half_mask",
    "reconstruction_l1",
    "stream_windows",
]


@dataclass
class E2EConfig:
    """Architecture and loss settings of the end-to-end temporal GAN.

    Attributes:
        image_size: side of the generated frames, pixels (a power of two >= 16; the paper: 128
            -> 6-layer identity encoder). Training crops are resized to it.
        crop_size: side of the aligned face crop the frames stand for (the prepared dataset's
            ``crop_size``); generated frames are resized to it before being pasted into a photo.
        sample_rate: audio sample rate, Hz.
        fps: video frame rate, frames/s (of the training data).
        window_s: audio window per video frame, seconds (paper: 0.16 s).
        audio_encoder: ``"raw"`` (1-D convolutions on the waveform, the paper) or ``"mfcc"``.
        base_channels: feature maps of the first identity-encoder layer (doubled at each layer; the
            paper: 64). The width knob: small values give CPU-sized models.
        audio_base_channels: feature maps of the first audio-encoder layer (paper: 16).
        audio_code_size: per-frame audio encoding size (paper: 256).
        context_size: hidden size of the context GRU = size of ``z_c`` (paper: 256).
        context_layers: layers of the context GRU (paper: 2).
        identity_size: size of ``z_id`` (paper: 50).
        noise_size: size of ``z_n`` (paper: 10).
        noise_std: standard deviation of the Gaussian noise fed to the noise GRU (paper: variance 0.6).
        disc_base_channels: first-layer feature maps of the discriminators' image CNNs (None: as
            ``base_channels``).
        disc_frame_code_size: per-frame image encoding of the sequence discriminators.
        disc_audio_code_size: per-frame audio encoding of the sequence discriminators.
        disc_rnn_size: hidden size of the sequence discriminators' 2-layer GRU.
        spp_levels: bins of each level of the 1-D spatial pyramid (SPP sequence discriminator).
        use_frame_discriminator: train with the frame discriminator D_img (ablation flag).
        use_sequence_discriminator: train with a sequence discriminator D_seq (ablation flag).
        sequence_discriminator: ``"gru"`` (last GRU step, the temporal-GAN paper) or ``"spp"``
            (spatial pyramid pooling over all steps, the multi-discriminator paper).
        l1_weight: λ of eq. 3 (paper: 400). The L1 term is the *mean* absolute error over the
            region's pixels (values in [-1, 1]).
        l1_region: ``"lower"`` (the lower half of the frame, eq. 2) or ``"full"`` (the whole frame:
            the paper's L1-only ablation, Fig. 4a, where no adversarial loss shapes the upper half).
        frame_samples: frames sampled uniformly per video for D_img (the sampling function S(x)).
        lr_frame_discriminator: Adam learning rate of D_img (paper: 1e-3). The generator uses
            :attr:`talkface.train.core.TrainConfig.lr` (paper: 2e-4).
        lr_sequence_discriminator: fixed Adam learning rate of D_seq (paper: 5e-5).
        lr_decay_start_epoch: the generator's and D_img's learning rates decay after this epoch.
        lr_decay: fraction by which they decay each epoch after that (paper: 10 %).
        adam_betas: Adam's betas for every network.
    """

    image_size: int = 128
    crop_size: int = 128
    sample_rate: int = 16000
    fps: float = 25.0
    window_s: float = 0.16
    audio_encoder: str = "raw"
    base_channels: int = 64
    audio_base_channels: int = 16
    audio_code_size: int = 256
    context_size: int = 256
    context_layers: int = 2
    identity_size: int = 50
    noise_size: int = 10
    noise_std: float = math.sqrt(0.6)
    disc_base_channels: int | None = None
    disc_frame_code_size: int = 128
    disc_audio_code_size: int = 128
    disc_rnn_size: int = 256
    spp_levels: tuple[int, ...] = (1, 2, 4)
    use_frame_discriminator: bool = True
    use_sequence_discriminator: bool = True
    sequence_discriminator: str = "gru"
    l1_weight: float = 400.0
    l1_region: str = "lower"
    frame_samples: int = 1
    lr_frame_discriminator: float = 1e-3
    lr_sequence_discriminator: float = 5e-5
    lr_decay_start_epoch: int = 20
    lr_decay: float = 0.1
    adam_betas: tuple[float, float] = (0.5, 0.999)

    def __post_init__(self) -> None:
        if self.image_size < 16 or self.image_size & (self.image_size - 1):
            raise ValueError(f"image_size must be a power of two >= 16, got {self.image_size}")
        if self.audio_encoder not in ("raw", "mfcc"):
            raise ValueError(f"audio_encoder must be 'raw' or 'mfcc', got {self.audio_encoder!r}")
        if self.sequence_discriminator not in ("gru", "spp"):
            raise ValueError(f"sequence_discriminator must be 'gru' or 'spp', got {self.sequence_discriminator!r}")
        if self.window_samples < 64:
            raise ValueError(f"window_s * sample_rate must be >= 64 samples, got {self.window_samples}")
        if self.l1_region not in ("lower", "full"):
            raise ValueError(f"l1_region must be 'lower' or 'full', got {self.l1_region!r}")
        if self.frame_samples < 1:
            raise ValueError(f"frame_samples must be >= 1, got {self.frame_samples}")

    @property
    def window_samples(self) -> int:
        """Audio window length W per video frame, samples."""
        return int(round(self.window_s * self.sample_rate))

    @property
    def disc_channels(self) -> int:
        """First-layer feature maps of the discriminators' image CNNs."""
        return self.disc_base_channels if self.disc_base_channels is not None else self.base_channels


ABLATIONS: dict[str, dict[str, Any]] = {
    "l1": {"use_frame_discriminator": False, "use_sequence_discriminator": False, "l1_region": "full"},
    "l1+img": {"use_frame_discriminator": True, "use_sequence_discriminator": False},
    "l1+img+seq": {
        "use_frame_discriminator": True, "use_sequence_discriminator": True, "sequence_discriminator": "gru"},
    "l1+img+spp": {
        "use_frame_discriminator": True, "use_sequence_discriminator": True, "sequence_discriminator": "spp"},
}
"""The ablation of the paper's Table 2 (plus the SPP sequence discriminator): name -> config flags."""


def ablation_config(name: str, **overrides: Any) -> E2EConfig:
    """Config of one ablation variant.

    Args:
        name: a key of :data:`ABLATIONS` (``"l1"``, ``"l1+img"``, ``"l1+img+seq"``, ``"l1+img+spp"``).
        **overrides: further :class:`E2EConfig` fields (sizes, ...).

    Returns:
        The config.
    """
    if name not in ABLATIONS:
        raise ValueError(f"unknown ablation {name!r}; choose from {sorted(ABLATIONS)}")
    return E2EConfig(**{**ABLATIONS[name], **overrides})


# ----------------------------------------------------------------------------------------------
# Building blocks


def _init_weights(module: nn.Module) -> None:
    """DCGAN-style initialisation (N(0, 0.02) weights, BN scale N(1, 0.02)), as the reference code."""
    for m in module.modules():
        if isinstance(m, nn.Conv1d | nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _num_down(image_size: int) -> int:
    """Strided (size-halving) layers from ``image_size`` down to 4 x 4."""
    return int(math.log2(image_size)) - 2


class AudioEncoder(nn.Module):
    """Raw-waveform encoder of one audio window per frame (paper Fig. 10, 7 layers).

    Layer 1: kernel 5 ms / stride 1 ms (80/16 samples at 16 kHz; 250/50 at the paper's 50 kHz),
    then kernel-4/stride-2 layers (doubling the feature maps) down to <= 8 steps, then one
    convolution over all remaining steps -> ``code_size`` (tanh). BN + ReLU after every hidden layer.

    Args:
        window: samples per window W.
        sample_rate: Hz (sets the first kernel).
        code_size: output size.
        base_channels: feature maps of layer 1.
        max_layers: at most this many layers in total (paper: 7).

    Shapes:
        ``(N, W)`` float32 waveform windows -> ``(N, code_size)`` in [-1, 1].
    """

    def __init__(
        self, window: int, sample_rate: int, code_size: int, base_channels: int = 16, max_layers: int = 7
    ) -> None:
        super().__init__()
        k0 = max(4, int(round(0.005 * sample_rate)))
        s0 = max(2, int(round(0.001 * sample_rate)))
        layers: list[nn.Module] = [
            nn.Conv1d(1, base_channels, k0, stride=s0, padding=(k0 - s0 + 1) // 2, bias=False),
            nn.BatchNorm1d(base_channels),
            nn.ReLU(True),
        ]
        length = (window + 2 * ((k0 - s0 + 1) // 2) - k0) // s0 + 1
        if length < 1:
            raise ValueError(f"audio window of {window} samples is too short")
        channels = base_channels
        n_layers = 1
        while length > 8 and n_layers < max_layers - 1:
            layers += [nn.Conv1d(channels, 2 * channels, 4, stride=2, padding=1, bias=False),
                       nn.BatchNorm1d(2 * channels), nn.ReLU(True)]
            channels *= 2
            length = (length + 2 - 4) // 2 + 1
            n_layers += 1
        layers += [nn.Conv1d(channels, code_size, length), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.code_size = code_size
        _init_weights(self)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """Encode windows ``(N, W)`` -> ``(N, code_size)``."""
        return cast(torch.Tensor, self.net(windows.unsqueeze(1)).flatten(1))


class MFCCAudioEncoder(nn.Module):
    """MFCC encoder of one audio window per frame (multi-discriminator paper sec. III.1).

    The MFCCs are computed inside the network (25-ms Hann frames every 10 ms, 40 mel bands from
    :func:`librosa.filters.mel`, log, orthonormal DCT-II, ``n_mfcc`` coefficients), so every window is
    encoded on its own and streaming gives the same result as whole-file processing. Then 5
    convolutions over time (BN, ReLU) and 2 fully connected layers -> ``code_size`` (tanh).

    Args:
        window: samples per window W (>= 25 ms).
        sample_rate: Hz.
        code_size: output size.
        base_channels: feature maps of the first convolution (doubled every other layer).
        n_mfcc: number of cepstral coefficients.
        n_mels: mel bands.

    Shapes:
        ``(N, W)`` float32 waveform windows -> ``(N, code_size)`` in [-1, 1].
    """

    def __init__(
        self, window: int, sample_rate: int, code_size: int, base_channels: int = 16, n_mfcc: int = 13, n_mels: int = 40
    ) -> None:
        super().__init__()
        import librosa
        import scipy.fft

        self.win_length = int(round(0.025 * sample_rate))
        self.hop = int(round(0.010 * sample_rate))
        self.n_fft = 1 << (self.win_length - 1).bit_length()
        if window < self.win_length:
            raise ValueError(f"audio window of {window} samples is shorter than one 25-ms MFCC frame")
        mel = librosa.filters.mel(sr=sample_rate, n_fft=self.n_fft, n_mels=n_mels).astype(np.float32)
        dct = scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc].astype(np.float32)
        self.register_buffer("mel_basis", torch.from_numpy(mel), persistent=False)
        self.register_buffer("dct_matrix", torch.from_numpy(dct), persistent=False)
        self.register_buffer("stft_window", torch.hann_window(self.win_length), persistent=False)
        steps = 1 + (window - self.win_length) // self.hop
        chans = [n_mfcc, base_channels, base_channels, 2 * base_channels, 2 * base_channels, 4 * base_channels]
        convs: list[nn.Module] = []
        for i in range(5):
            stride = 2 if (i % 2 == 1 and steps > 4) else 1
            convs += [nn.Conv1d(chans[i], chans[i + 1], 3, stride=stride, padding=1, bias=False),
                      nn.BatchNorm1d(chans[i + 1]), nn.ReLU(True)]
            steps = (steps + 2 - 3) // stride + 1
        self.convs = nn.Sequential(*convs)
        self.fc = nn.Sequential(
            nn.Linear(chans[-1] * steps, 2 * code_size), nn.BatchNorm1d(2 * code_size), nn.ReLU(True),
            nn.Linear(2 * code_size, code_size), nn.Tanh(),
        )
        self.code_size = code_size
        _init_weights(self)

    def mfcc(self, windows: torch.Tensor) -> torch.Tensor:
        """MFCCs of windows ``(N, W)`` -> ``(N, n_mfcc, steps)`` float32."""
        spec = torch.stft(
            windows, self.n_fft, hop_length=self.hop, win_length=self.win_length,
            window=cast(torch.Tensor, self.stft_window), center=False, return_complex=True,
        )
        power = spec.real.square() + spec.imag.square()  # (N, F, steps)
        mel = torch.matmul(cast(torch.Tensor, self.mel_basis), power)
        return torch.matmul(cast(torch.Tensor, self.dct_matrix), torch.log(mel + 1e-6))

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """Encode windows ``(N, W)`` -> ``(N, code_size)``."""
        return cast(torch.Tensor, self.fc(self.convs(self.mfcc(windows)).flatten(1)))


def make_audio_encoder(config: E2EConfig, code_size: int, base_channels: int | None = None) -> nn.Module:
    """The per-frame audio encoder the config asks for (:class:`AudioEncoder` or :class:`MFCCAudioEncoder`)."""
    base = config.audio_base_channels if base_channels is None else base_channels
    if config.audio_encoder == "mfcc":
        return MFCCAudioEncoder(config.window_samples, config.sample_rate, code_size, base)
    return AudioEncoder(config.window_samples, config.sample_rate, code_size, base)


def _encode_per_frame(encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a per-item encoder to a sequence ``(B, T, ...)`` -> ``(B, T, D)``."""
    b, t = x.shape[:2]
    return cast(torch.Tensor, encoder(x.reshape(b * t, *x.shape[2:]))).reshape(b, t, -1)


class ContextEncoder(nn.Module):
    """Audio encoder + multi-layer GRU: per-frame audio windows -> context encodings ``z_c``.

    Shapes:
        ``(B, T, W)`` windows (+ hidden ``(layers, B, size)``) -> ``(B, T, size)``, new hidden.
    """

    def __init__(self, config: E2EConfig) -> None:
        super().__init__()
        self.audio_encoder = make_audio_encoder(config, config.audio_code_size)
        self.rnn = nn.GRU(config.audio_code_size, config.context_size, config.context_layers, batch_first=True)

    def forward(self, windows: torch.Tensor, hidden: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode ``(B, T, W)`` -> ``z_c`` ``(B, T, context_size)`` and the GRU state."""
        out, h = self.rnn(_encode_per_frame(self.audio_encoder, windows), hidden)
        return out, h


class NoiseGenerator(nn.Module):
    """Sequentially coherent noise: a 1-layer GRU over Gaussian noise, tanh (paper Fig. 11).

    Shapes:
        ``(B, T, n)`` Gaussian noise (+ hidden ``(1, B, n)``) -> ``z_n`` ``(B, T, n)``, new hidden.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.rnn = nn.GRU(size, size, batch_first=True)

    def forward(self, noise: torch.Tensor, hidden: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Turn i.i.d. noise ``(B, T, n)`` into ``z_n`` ``(B, T, n)`` and the GRU state."""
        out, h = self.rnn(noise, hidden)
        return torch.tanh(out), h


class IdentityEncoder(nn.Module):
    """Still image -> ``z_id`` and U-Net skip maps (paper Fig. 12).

    ``log2(S) - 2`` strided 4x4 convolutions (BN, ReLU) halve the image down to 4 x 4 with
    ``base, 2 base, 4 base, ...`` feature maps, then a 4x4 convolution gives ``z_id`` (tanh): 6 layers
    for S = 128.

    Shapes:
        ``(B, 3, S, S)`` -> ``z_id`` ``(B, size)``, skips: list of ``(B, base 2^i, S / 2^(i+1), ...)``
        from the largest to the smallest map.
    """

    def __init__(self, image_size: int, size: int, base_channels: int, in_channels: int = 3) -> None:
        super().__init__()
        self.channels: list[int] = []
        layers: list[nn.Module] = []
        c_in = in_channels
        for i in range(_num_down(image_size)):
            c_out = base_channels * 2**i
            layers.append(nn.Sequential(
                nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)))
            self.channels.append(c_out)
            c_in = c_out
        self.down = nn.ModuleList(layers)
        self.code = nn.Sequential(nn.Conv2d(c_in, size, 4, bias=False), nn.Tanh())
        self.size = size
        _init_weights(self)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Encode ``(B, 3, S, S)`` -> ``z_id`` ``(B, size)`` and the skip maps."""
        skips = []
        x = image
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        return self.code(x).flatten(1), skips


class _UnetBlock(nn.Module):
    """Concatenate a skip map, 3x3 transposed conv (BN, ReLU), then a 4x4/2 transposed conv up (BN, ReLU)."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.merge = nn.Sequential(
            nn.ConvTranspose2d(in_channels + skip_channels, in_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(in_channels), nn.ReLU(True))
        self.up = nn.Sequential(
            nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(True))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """``(N, in, h, w)`` + skip ``(N, skip, h, w)`` -> ``(N, out, 2h, 2w)``."""
        return cast(torch.Tensor, self.up(self.merge(torch.cat([x, skip], 1))))


class FrameDecoder(nn.Module):
    """Latent ``[z_c, z_id, z_n]`` + skip maps -> one frame (tanh) with strided transposed convolutions.

    A 4x4 transposed conv makes a 4 x 4 map with the identity encoder's deepest width; U-Net blocks
    double the size, each first merging the identity encoder's map of that size; a last 4x4/2
    transposed conv gives the 3-channel frame (6 upsampling layers for S = 128).

    Shapes:
        latent ``(N, latent)``, skips as :class:`IdentityEncoder` gives them (batch ``N``) ->
        ``(N, 3, S, S)`` in [-1, 1].
    """

    def __init__(self, image_size: int, latent_size: int, skip_channels: Sequence[int]) -> None:
        super().__init__()
        rev = list(skip_channels)[::-1]  # deepest first
        top = rev[0]
        self.start = nn.Sequential(
            nn.ConvTranspose2d(latent_size, top, 4, bias=False), nn.BatchNorm2d(top), nn.ReLU(True))
        blocks = []
        c = top
        for skip_c in rev[: _num_down(image_size) - 1]:
            blocks.append(_UnetBlock(c, skip_c, c // 2))
            c //= 2
        self.blocks = nn.ModuleList(blocks)
        self.out = nn.Sequential(nn.ConvTranspose2d(c, 3, 4, stride=2, padding=1, bias=False), nn.Tanh())
        _init_weights(self)

    def forward(self, latent: torch.Tensor, skips: Sequence[torch.Tensor]) -> torch.Tensor:
        """Decode ``(N, latent)`` with skip maps (largest first, batch N) -> ``(N, 3, S, S)``."""
        x = self.start(latent[:, :, None, None])
        rev = list(skips)[::-1]
        for block, skip in zip(self.blocks, rev, strict=False):
            x = block(x, skip)
        return cast(torch.Tensor, self.out(x))


@dataclass
class GeneratorState:
    """What the generator carries from one chunk of frames to the next while streaming.

    Attributes:
        z_id: ``(B, identity_size)`` identity encoding of the still.
        skips: identity-encoder maps of the still (largest first), ``(B, C, h, w)`` each.
        context_hidden: ``(context_layers, B, context_size)`` context-GRU state, or None at the start.
        noise_hidden: ``(1, B, noise_size)`` noise-GRU state, or None at the start.
    """

    z_id: torch.Tensor
    skips: list[torch.Tensor]
    context_hidden: torch.Tensor | None = None
    noise_hidden: torch.Tensor | None = None


class Generator(nn.Module):
    """The temporal generator: still + per-frame audio windows (+ noise) -> video frames.

    Args:
        config: sizes.
    """

    def __init__(self, config: E2EConfig) -> None:
        super().__init__()
        self.config = config
        self.context_encoder = ContextEncoder(config)
        self.identity_encoder = IdentityEncoder(config.image_size, config.identity_size, config.base_channels)
        self.noise_generator = NoiseGenerator(config.noise_size)
        latent = config.context_size + config.identity_size + config.noise_size
        self.frame_decoder = FrameDecoder(config.image_size, latent, self.identity_encoder.channels)

    def start(self, still: torch.Tensor) -> GeneratorState:
        """Encode the still ``(B, 3, S, S)`` in [-1, 1] and return the initial streaming state."""
        z_id, skips = self.identity_encoder(still)
        return GeneratorState(z_id=z_id, skips=skips)

    def step(
        self, state: GeneratorState, windows: torch.Tensor, noise: torch.Tensor
    ) -> tuple[torch.Tensor, GeneratorState]:
        """Generate the next frames of a sequence.

        Args:
            state: from :meth:`start` or the previous call.
            windows: ``(B, T, W)`` float32 audio windows of these frames.
            noise: ``(B, T, noise_size)`` Gaussian noise of these frames (already scaled by
                ``noise_std``).

        Returns:
            frames ``(B, T, 3, S, S)`` in [-1, 1] and the state after them.
        """
        b, t = windows.shape[:2]
        z_c, ch = self.context_encoder(windows, state.context_hidden)
        z_n, nh = self.noise_generator(noise, state.noise_hidden)
        z_id = state.z_id[:, None].expand(b, t, -1)
        latent = torch.cat([z_c, z_id, z_n], 2).reshape(b * t, -1)
        skips = [s[:, None].expand(b, t, *s.shape[1:]).reshape(b * t, *s.shape[1:]) for s in state.skips]
        frames = self.frame_decoder(latent, skips).reshape(b, t, 3, *self.frame_shape)
        return frames, GeneratorState(state.z_id, state.skips, ch, nh)

    @property
    def frame_shape(self) -> tuple[int, int]:
        """(height, width) of generated frames."""
        return (self.config.image_size, self.config.image_size)

    def sample_noise(self, batch: int, num_frames: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Gaussian noise ``(batch, num_frames, noise_size)`` with std ``noise_std``.

        Drawn frame by frame, so drawing T frames at once or in chunks from the same
        ``generator`` gives the same values (streaming == batch generation).
        """
        size = self.config.noise_size
        device = next(self.parameters()).device
        if num_frames == 0:
            return torch.zeros(batch, 0, size, device=device)
        draws = [torch.randn(batch, 1, size, generator=generator) for _ in range(num_frames)]
        return (torch.cat(draws, 1) * self.config.noise_std).to(device)

    def forward(self, still: torch.Tensor, windows: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Generate whole sequences (training).

        Args:
            still: ``(B, 3, S, S)`` identity frames in [-1, 1].
            windows: ``(B, T, W)`` audio windows.
            noise: ``(B, T, noise_size)`` scaled noise (None: drawn).

        Returns:
            ``(B, T, 3, S, S)`` frames in [-1, 1].
        """
        b, t = windows.shape[:2]
        if noise is None:
            noise = torch.randn(b, t, self.config.noise_size, device=windows.device) * self.config.noise_std
        frames, _ = self.step(self.start(still), windows, noise)
        return frames


# ----------------------------------------------------------------------------------------------
# Discriminators


class _ImageCNN(nn.Module):
    """Strided 4x4 convolutions down to 4 x 4 (first without BN), then a 4x4 convolution -> ``out`` values.

    ``log2(S) - 1`` layers: 6 for S = 128 (the paper's 6-layer frame discriminator).
    """

    def __init__(self, image_size: int, in_channels: int, base_channels: int, out: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for i in range(_num_down(image_size)):
            c_out = base_channels * 2**i
            layers.append(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=i == 0))
            if i > 0:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU(True))
            c_in = c_out
        layers.append(nn.Conv2d(c_in, out, 4))
        self.net = nn.Sequential(*layers)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, S, S)`` -> ``(N, out)``."""
        return cast(torch.Tensor, self.net(x).flatten(1))


class FrameDiscriminator(nn.Module):
    """D_img: is a frame real, given the still? (frame and still concatenated channel-wise).

    Shapes:
        frames ``(N, 3, S, S)``, still ``(N, 3, S, S)`` -> logits ``(N,)`` (sigmoid -> probability).
    """

    def __init__(self, config: E2EConfig) -> None:
        super().__init__()
        self.cnn = _ImageCNN(config.image_size, 6, config.disc_channels, 1)

    def forward(self, frames: torch.Tensor, still: torch.Tensor) -> torch.Tensor:
        """Logit per frame ``(N,)``."""
        return cast(torch.Tensor, self.cnn(torch.cat([frames, still], 1)).squeeze(1))


class _SequenceEncoder(nn.Module):
    """Per-frame image CNN + per-frame audio encoder -> 2-layer GRU over the joint encodings."""

    def __init__(self, config: E2EConfig) -> None:
        super().__init__()
        self.frame_encoder = _ImageCNN(config.image_size, 3, config.disc_channels, config.disc_frame_code_size)
        self.audio_encoder = make_audio_encoder(
            config, config.disc_audio_code_size, max(4, config.audio_base_channels // 2))
        self.rnn = nn.GRU(config.disc_frame_code_size + config.disc_audio_code_size, config.disc_rnn_size, 2,
                          batch_first=True)

    def forward(self, frames: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
        """``(B, T, 3, S, S)`` frames + ``(B, T, W)`` audio -> GRU outputs ``(B, T, disc_rnn_size)``."""
        v = F.relu(_encode_per_frame(self.frame_encoder, frames))
        a = _encode_per_frame(self.audio_encoder, windows)
        out, _ = self.rnn(torch.cat([v, a], 2))
        return cast(torch.Tensor, out)


def _classifier(in_size: int, hidden: int) -> nn.Sequential:
    """The small 2-layer classifier of the sequence discriminators (-> one logit)."""
    return nn.Sequential(nn.Linear(in_size, hidden), nn.ReLU(True), nn.Linear(hidden, 1))


class SequenceDiscriminator(nn.Module):
    """D_seq: is a (video, audio) pair real? Classifies the GRU state at the last frame (paper 3.2.2).

    Shapes:
        frames ``(B, T, 3, S, S)``, windows ``(B, T, W)`` -> logits ``(B,)``.
    """

    def __init__(self, config: E2EConfig) -> None:
        super().__init__()
        self.encoder = _SequenceEncoder(config)
        self.classifier = _classifier(config.disc_rnn_size, config.disc_rnn_size // 2)

    def forward(self, frames: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
        """Logit per sequence ``(B,)``."""
        return cast(torch.Tensor, self.classifier(self.encoder(frames, windows)[:, -1]).squeeze(1))


class SpatialPyramidPool1d(nn.Module):
    """1-D spatial pyramid pooling: a fixed-size vector from a sequence of any length.

    Level ``n`` max-pools the sequence into ``n`` equal bins (:func:`torch.nn.functional.adaptive_max_pool1d`);
    the bins of all levels are concatenated. Sequences shorter than a level's bin count repeat
    elements, so any length >= 1 works.

    Args:
        levels: bins per level, e.g. ``(1, 2, 4)``.

    Shapes:
        ``(B, C, T)`` (+ optional ``lengths`` ``(B,)`` of valid steps of padded sequences) ->
        ``(B, C * sum(levels))``.
    """

    def __init__(self, levels: Sequence[int] = (1, 2, 4)) -> None:
        super().__init__()
        if not levels or min(levels) < 1:
            raise ValueError(f"levels must be positive bin counts, got {levels}")
        self.levels = tuple(int(n) for n in levels)

    def output_size(self, channels: int) -> int:
        """Length of the pooled vector for ``channels`` input channels."""
        return channels * sum(self.levels)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.adaptive_max_pool1d(x, n).flatten(1) for n in self.levels], 1)

    def forward(self, x: torch.Tensor, lengths: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        """Pool ``(B, C, T)`` -> ``(B, C * sum(levels))``."""
        if x.shape[-1] < 1:
            raise ValueError("cannot pool an empty sequence")
        if lengths is None:
            return self._pool(x)
        return torch.cat([self._pool(x[i : i + 1, :, : int(n)]) for i, n in enumerate(lengths)], 0)


class SPPSequenceDiscriminator(nn.Module):
    """Variable-length D_seq: GRU outputs of every frame pooled by 1-D SPP, then the classifier.

    Shapes:
        frames ``(B, T, 3, S, S)``, windows ``(B, T, W)`` (+ optional ``lengths``) -> logits ``(B,)``.
    """

    def __init__(self, config: E2EConfig) -> None:
        super().__init__()
        self.encoder = _SequenceEncoder(config)
        self.spp = SpatialPyramidPool1d(config.spp_levels)
        self.classifier = _classifier(self.spp.output_size(config.disc_rnn_size), config.disc_rnn_size // 2)

    def forward(
        self, frames: torch.Tensor, windows: torch.Tensor, lengths: Sequence[int] | torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logit per sequence ``(B,)``."""
        h = self.encoder(frames, windows).transpose(1, 2)  # (B, H, T)
        return cast(torch.Tensor, self.classifier(self.spp(h, lengths)).squeeze(1))


# ----------------------------------------------------------------------------------------------
# Losses


def lower_half_mask(height: int, width: int) -> torch.Tensor:
    """Mask of the lower half of a frame (the L1 region of eq. 2).

    Returns:
        ``(height, width)`` bool, True on rows ``height // 2 .. height - 1``.
    """
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[height // 2 :] = True
    return mask


def lower_half_l1(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the lower half of the frames (eq. 2, averaged instead of summed).

    Args:
        fake, real: ``(..., C, H, W)`` frames.

    Returns:
        Scalar tensor.
    """
    h = fake.shape[-2]
    return (fake[..., h // 2 :, :] - real[..., h // 2 :, :]).abs().mean()


def reconstruction_l1(fake: torch.Tensor, real: torch.Tensor, region: str = "lower") -> torch.Tensor:
    """The L1 term of eq. 3: :func:`lower_half_l1` (``region="lower"``) or the whole frame (``"full"``).

    Args:
        fake, real: ``(..., C, H, W)`` frames.
        region: ``"lower"`` or ``"full"``.

    Returns:
        Scalar tensor (mean absolute error).
    """
    if region == "full":
        return (fake - real).abs().mean()
    return lower_half_l1(fake, real)


def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """``-log D`` (real) or ``-log(1 - D)`` (fake) for sigmoid discriminators, from logits."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


# ----------------------------------------------------------------------------------------------
# Training module


class TemporalGAN(TalkfaceModule):
    """The end-to-end temporal GAN as a training-core module (manual optimisation).

    Each batch: one Adam step of the discriminators (D_img at ``lr_frame_discriminator``, D_seq at
    ``lr_sequence_discriminator``, one optimiser with a parameter group each), then one of the
    generator on ``adv + λ L1`` (eq. 3). With no discriminator (the ``"l1"`` ablation) only the
    generator steps. The generator's and D_img's learning rates decay by ``lr_decay`` per epoch
    after ``lr_decay_start_epoch``.

    Batches are dicts (see :mod:`talkface.e2e.data`): ``still`` ``(B, 3, S, S)``, ``frames``
    ``(B, T, 3, S, S)`` in [-1, 1], ``audio`` ``(B, T, W)`` windows.

    Args:
        config: an :class:`E2EConfig` (or its dict form from a checkpoint).
    """

    config_class = E2EConfig
    best_metric = ("val/psnr", "max")

    def __init__(self, config: E2EConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        cfg: E2EConfig = self.config
        self.automatic_optimization = False
        self.generator = Generator(cfg)
        self.frame_discriminator = FrameDiscriminator(cfg) if cfg.use_frame_discriminator else None
        self.sequence_discriminator: nn.Module | None = None
        if cfg.use_sequence_discriminator:
            self.sequence_discriminator = (
                SPPSequenceDiscriminator(cfg) if cfg.sequence_discriminator == "spp" else SequenceDiscriminator(cfg)
            )

    @property
    def has_discriminators(self) -> bool:
        """True unless this is the L1-only ablation."""
        return self.frame_discriminator is not None or self.sequence_discriminator is not None

    @property
    def optimizer_steps_per_batch(self) -> int:
        """2 (discriminators + generator), or 1 for the L1-only model."""
        return 2 if self.has_discriminators else 1

    def _decay(self, epoch: int) -> float:
        cfg: E2EConfig = self.config
        return (1.0 - cfg.lr_decay) ** max(0, epoch - cfg.lr_decay_start_epoch)

    def configure_optimizers(self) -> Any:
        """Adam for G (``TrainConfig.lr``) and for the discriminators (a parameter group each)."""
        cfg: E2EConfig = self.config
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.lr, betas=cfg.adam_betas)
        sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, self._decay)
        if not self.has_discriminators:
            return [opt_g], [sched_g]
        groups: list[dict[str, Any]] = []
        lambdas = []
        if self.frame_discriminator is not None:
            groups.append({"params": list(self.frame_discriminator.parameters()), "lr": cfg.lr_frame_discriminator})
            lambdas.append(self._decay)
        if self.sequence_discriminator is not None:
            groups.append({"params": list(self.sequence_discriminator.parameters()),
                           "lr": cfg.lr_sequence_discriminator})
            lambdas.append(_constant_lr)
        opt_d = torch.optim.Adam(groups, betas=cfg.adam_betas)
        sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, cast(Any, lambdas))
        return [opt_g, opt_d], [sched_g, sched_d]

    def forward(self, still: torch.Tensor, windows: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Generate ``(B, T, 3, S, S)`` frames (see :meth:`Generator.forward`)."""
        return cast(torch.Tensor, self.generator(still, windows, noise))

    def _sample_frames(self, frames: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, T, ...)`` at per-video indices ``(B, k)`` -> ``(B * k, ...)`` (the sampler S(x))."""
        b = frames.shape[0]
        rows = torch.arange(b, device=frames.device)[:, None].expand_as(index)
        return frames[rows, index].flatten(0, 1)

    def discriminator_loss(
        self, batch: dict[str, torch.Tensor], fake: torch.Tensor, index: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Discriminator losses (the negated adversarial terms of eq. 1) on real and generated data."""
        still, real, windows = batch["still"], batch["frames"], batch["audio"]
        losses: dict[str, torch.Tensor] = {}
        if self.frame_discriminator is not None:
            k = index.shape[1]
            cond = still.repeat_interleave(k, 0)
            losses["d_img"] = _bce(self.frame_discriminator(self._sample_frames(real, index), cond), True) + _bce(
                self.frame_discriminator(self._sample_frames(fake, index), cond), False)
        if self.sequence_discriminator is not None:
            losses["d_seq"] = _bce(self.sequence_discriminator(real, windows), True) + _bce(
                self.sequence_discriminator(fake, windows), False)
        return losses

    def generator_loss(
        self, batch: dict[str, torch.Tensor], fake: torch.Tensor, index: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Generator losses: L1 on the lower half, adversarial (non-saturating) terms, and their total."""
        cfg: E2EConfig = self.config
        still, real, windows = batch["still"], batch["frames"], batch["audio"]
        losses = {"l1": reconstruction_l1(fake, real, cfg.l1_region)}
        total = cfg.l1_weight * losses["l1"]
        if self.frame_discriminator is not None:
            cond = still.repeat_interleave(index.shape[1], 0)
            losses["g_img"] = _bce(self.frame_discriminator(self._sample_frames(fake, index), cond), True)
            total = total + losses["g_img"]
        if self.sequence_discriminator is not None:
            losses["g_seq"] = _bce(self.sequence_discriminator(fake, windows), True)
            total = total + losses["g_seq"]
        losses["g_total"] = total
        return losses

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """One discriminator step then one generator step (manual optimisation)."""
        cfg: E2EConfig = self.config
        opts = self.optimizers()
        opt_list = opts if isinstance(opts, list) else [opts]
        opt_g = opt_list[0]
        fake = self.generator(batch["still"], batch["audio"])
        b, t = fake.shape[:2]
        index = torch.randint(0, t, (b, cfg.frame_samples), device=fake.device)
        logged: dict[str, torch.Tensor] = {}
        if self.has_discriminators:
            opt_d = opt_list[1]
            self.toggle_optimizer(opt_d)
            d_losses = self.discriminator_loss(batch, fake.detach(), index)
            d_total = cast(torch.Tensor, sum(d_losses.values()))
            opt_d.zero_grad()
            self.manual_backward(d_total)
            opt_d.step()
            self.untoggle_optimizer(opt_d)
            logged.update(d_losses)
        self.toggle_optimizer(opt_g)
        g_losses = self.generator_loss(batch, fake, index)
        opt_g.zero_grad()
        self.manual_backward(g_losses["g_total"])
        opt_g.step()
        self.untoggle_optimizer(opt_g)
        logged.update(g_losses)
        self.log_losses(logged)

    def on_train_epoch_end(self) -> None:
        """Step the learning-rate schedules (decay after ``lr_decay_start_epoch``)."""
        scheds = self.lr_schedulers()
        if scheds is None:
            return
        for sched in scheds if isinstance(scheds, list) else [scheds]:
            cast(torch.optim.lr_scheduler.LRScheduler, sched).step()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """L1 (the training region) and PSNR (whole frame, dB) of generated vs. real validation clips."""
        cfg: E2EConfig = self.config
        fake = self.generator(batch["still"], batch["audio"])
        real = batch["frames"]
        mse = ((fake - real) / 2.0).square().mean().clamp_min(1e-10)
        psnr = -10.0 * torch.log10(mse)
        self.log_losses({"l1": reconstruction_l1(fake, real, cfg.l1_region), "psnr": psnr}, prefix="val")


def _constant_lr(epoch: int) -> float:
    """Learning-rate factor of D_seq: fixed."""
    return 1.0


# ----------------------------------------------------------------------------------------------
# Inference


def images_to_tensor(images: np.ndarray, size: int | None = None) -> torch.Tensor:
    """uint8 RGB images -> float tensor in [-1, 1], channels first.

    Args:
        images: ``(..., H, W, 3)`` uint8 RGB.
        size: resize to ``size x size`` first (area / linear interpolation), or None.

    Returns:
        ``(..., 3, H', W')`` float32.
    """
    import cv2

    arr = np.asarray(images)
    if size is not None and arr.shape[-3:-1] != (size, size):
        flat = arr.reshape(-1, *arr.shape[-3:])
        interp = cv2.INTER_AREA if arr.shape[-3] > size else cv2.INTER_LINEAR
        flat = np.stack([cv2.resize(im, (size, size), interpolation=interp) for im in flat])
        arr = flat.reshape(*arr.shape[:-3], size, size, 3)
    t = torch.from_numpy(np.ascontiguousarray(arr)).float().div_(127.5).sub_(1.0)
    return t.movedim(-1, -3)


def frames_to_uint8(frames: torch.Tensor) -> np.ndarray:
    """Float frames in [-1, 1] ``(..., 3, H, W)`` -> uint8 RGB ``(..., H, W, 3)``."""
    x = ((frames.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return x.movedim(-3, -1).numpy()


def _still_tensor(generator: Generator, still: np.ndarray) -> torch.Tensor:
    s = np.asarray(still)
    if s.ndim != 3 or s.shape[2] != 3 or s.dtype != np.uint8:
        raise ValueError(f"still must be (H, W, 3) uint8 RGB, got {s.shape} {s.dtype}")
    device = next(generator.parameters()).device
    return images_to_tensor(s, generator.config.image_size)[None].to(device)


def stream_windows(
    audio_chunks: Iterable[np.ndarray], fps: float, window: int, sample_rate: int, chunk_frames: int = 25
) -> Iterator[np.ndarray]:
    """Per-frame raw audio windows from an audio stream, chunk by chunk, in constant memory.

    Gives exactly the windows of :func:`talkface.audio.windows.raw_windows` for the whole signal
    (frame ``t`` centred at ``t / fps`` s, zeros outside the signal) and exactly
    ``round(N / sample_rate * fps)`` of them for ``N`` samples in all, while keeping only about one
    window plus one chunk of audio in memory.

    Args:
        audio_chunks: ``(n,)`` float32 mono pieces of the signal, in order (any sizes).
        fps: video frame rate.
        window: window length W, samples.
        sample_rate: Hz.
        chunk_frames: frames per yielded block (the last one may be shorter).

    Yields:
        ``(c, W)`` float32 windows of consecutive frames, ``1 <= c <= chunk_frames``.
    """
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
    buf = np.zeros(0, np.float32)
    buf_start = 0  # absolute sample index of buf[0]
    received = 0
    t_next = 0

    def starts(t0: int, t1: int) -> np.ndarray:
        # Same floating-point expression as raw_windows/frame_centres, so the windows match exactly.
        return np.round(np.arange(t0, t1, dtype=np.float64) / float(fps) * sample_rate - window / 2).astype(np.int64)

    def cut(t0: int, t1: int) -> np.ndarray:
        s = starts(t0, t1)
        out = np.zeros((t1 - t0, window), np.float32)
        for i, s_i in enumerate(s):
            lo, hi = max(int(s_i), buf_start), min(int(s_i) + window, buf_start + buf.shape[0])
            if hi > lo:
                out[i, lo - s_i : hi - s_i] = buf[lo - buf_start : hi - buf_start]
        return out

    def trim() -> None:
        nonlocal buf, buf_start
        keep_from = int(starts(t_next, t_next + 1)[0])
        drop = min(max(0, keep_from - buf_start), buf.shape[0])
        if drop:
            buf = buf[drop:].copy()
            buf_start += drop

    for chunk in audio_chunks:
        piece = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if piece.size == 0:
            continue
        buf = np.concatenate([buf, piece])
        received += piece.shape[0]
        # frames that surely exist and whose whole window has arrived
        known = int(round(received / sample_rate * fps))
        while True:
            t_end = t_next + chunk_frames
            if t_end > known:
                break
            if int(starts(t_end - 1, t_end)[0]) + window > received:
                break
            yield cut(t_next, t_end)
            t_next = t_end
            trim()
    total = int(round(received / sample_rate * fps))
    while t_next < total:
        t_end = min(t_next + chunk_frames, total)
        yield cut(t_next, t_end)
        t_next = t_end
        trim()


def _as_chunks(audio: np.ndarray | Iterable[np.ndarray], size: int) -> Iterable[np.ndarray]:
    if isinstance(audio, np.ndarray):
        a = audio.reshape(-1)
        return (a[i : i + size] for i in range(0, a.shape[0], size))
    return audio


@torch.no_grad()
def generate_stream(
    generator: Generator,
    still: np.ndarray,
    audio: np.ndarray | Iterable[np.ndarray],
    *,
    fps: float | None = None,
    sample_rate: int | None = None,
    chunk_frames: int = 25,
    seed: int = 0,
) -> Iterator[np.ndarray]:
    """Stream a talking-head video from a still and speech, frame by frame, in constant memory.

    The GRU states are carried from chunk to chunk, so the frames equal those of
    :func:`generate_batch` for the same ``seed``. Exactly ``round(N / sample_rate * fps)`` frames
    come out for ``N`` audio samples.

    Args:
        generator: a trained :class:`Generator` (put in eval mode here).
        still: ``(H, W, 3)`` uint8 RGB aligned face crop (resized to the model's ``image_size``).
        audio: ``(N,)`` float32 mono speech at ``sample_rate``, or an iterable of such pieces.
        fps: video frame rate (None: the model's).
        sample_rate: audio rate, Hz (None: the model's; must equal it).
        chunk_frames: frames generated per network call (memory vs. speed; any value gives the
            same frames).
        seed: seed of the noise generator's input noise.

    Yields:
        ``(image_size, image_size, 3)`` uint8 RGB frames.
    """
    cfg = generator.config
    fps = cfg.fps if fps is None else fps
    sample_rate = cfg.sample_rate if sample_rate is None else sample_rate
    if sample_rate != cfg.sample_rate:
        raise ValueError(f"audio must be at the model's {cfg.sample_rate} Hz, got {sample_rate}")
    generator.eval()
    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    state = generator.start(_still_tensor(generator, still))
    stride = max(1, int(round(sample_rate / fps)))
    for windows in stream_windows(_as_chunks(audio, stride * chunk_frames), fps, cfg.window_samples, sample_rate,
                                  chunk_frames):
        w = torch.from_numpy(windows)[None].to(device)
        noise = generator.sample_noise(1, w.shape[1], rng)
        frames, state = generator.step(state, w, noise)
        yield from frames_to_uint8(frames[0])


@torch.no_grad()
def generate_batch(
    generator: Generator,
    still: np.ndarray,
    audio: np.ndarray,
    *,
    fps: float | None = None,
    num_frames: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Generate a whole video in one network call (for evaluation and tests).

    Args:
        generator: a trained :class:`Generator` (put in eval mode here).
        still: ``(H, W, 3)`` uint8 RGB aligned face crop.
        audio: ``(N,)`` float32 mono speech at the model's sample rate.
        fps: video frame rate (None: the model's).
        num_frames: frames to make (None: ``round(N / sample_rate * fps)``).
        seed: noise seed (as in :func:`generate_stream`).

    Returns:
        ``(T, image_size, image_size, 3)`` uint8 RGB frames.
    """
    cfg = generator.config
    fps = cfg.fps if fps is None else fps
    a = np.asarray(audio, dtype=np.float32).reshape(-1)
    t = int(round(a.shape[0] / cfg.sample_rate * fps)) if num_frames is None else num_frames
    generator.eval()
    device = next(generator.parameters()).device
    windows = torch.from_numpy(raw_windows(a, t, fps, cfg.window_samples, cfg.sample_rate))[None].to(device)
    noise = generator.sample_noise(1, t, torch.Generator().manual_seed(seed))
    frames, _ = generator.step(generator.start(_still_tensor(generator, still)), windows, noise)
    return frames_to_uint8(frames[0])
