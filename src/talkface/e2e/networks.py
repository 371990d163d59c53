r"""Networks of the end-to-end temporal GAN (plain ``nn.Module``\ s; Vougioukas et al., BMVC 2018).

Generator: :class:`AudioEncoder` / :class:`MFCCAudioEncoder` -> :class:`ContextEncoder` (``z_c``),
:class:`IdentityEncoder` (``z_id`` and U-Net skips), :class:`NoiseGenerator` (``z_n``),
:class:`FrameDecoder`, put together in :class:`Generator` (frame by frame with carried GRU states,
:class:`GeneratorState`). Discriminators: :class:`FrameDiscriminator`, :class:`SequenceDiscriminator`
and the variable-length :class:`SPPSequenceDiscriminator` (:class:`SpatialPyramidPool1d`). See
:mod:`talkface.e2e.temporal_gan` for the architecture overview, the losses and the training module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from talkface.e2e.config import E2EConfig

__all__ = [
    "AudioEncoder",
    "ContextEncoder",
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
    "make_audio_encoder",
    "residual_output",
]



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
    transposed conv gives the 3-channel frame (6 upsampling layers for S = 128), or, with
    ``out_channels=4, final_tanh=False``, the raw residual + mask logits of :func:`residual_output`.

    Shapes:
        latent ``(N, latent)``, skips as :class:`IdentityEncoder` gives them (batch ``N``) ->
        ``(N, 3, S, S)`` in [-1, 1].
    """

    def __init__(self, image_size: int, latent_size: int, skip_channels: Sequence[int], out_channels: int = 3,
                 final_tanh: bool = True) -> None:
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
        self.out = nn.Sequential(nn.ConvTranspose2d(c, out_channels, 4, stride=2, padding=1, bias=False),
                                 nn.Tanh() if final_tanh else nn.Identity())
        _init_weights(self)

    def forward(self, latent: torch.Tensor, skips: Sequence[torch.Tensor]) -> torch.Tensor:
        """Decode ``(N, latent)`` with skip maps (largest first, batch N) -> ``(N, 3, S, S)``."""
        x = self.start(latent[:, :, None, None])
        rev = list(skips)[::-1]
        for block, skip in zip(self.blocks, rev, strict=False):
            x = block(x, skip)
        return cast(torch.Tensor, self.out(x))


def residual_output(still: torch.Tensor, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames of a ``"residual"`` generator: the still plus a masked residual.

    ``frame = clamp(still + m * delta, -1, 1)`` with ``delta = tanh(raw[:, :3])`` and
    ``m = sigmoid(raw[:, 3])``: where the mask is 0 (or the residual is 0) the still's pixel is
    kept exactly.

    Args:
        still: ``(N, 3, S, S)`` still frames in [-1, 1] (one per generated frame).
        raw: ``(N, 4, S, S)`` decoder output (residual logits, mask logit).

    Returns:
        frames ``(N, 3, S, S)`` in [-1, 1] and the mask ``(N, 1, S, S)`` in (0, 1).
    """
    delta = torch.tanh(raw[:, :3])
    mask = torch.sigmoid(raw[:, 3:4])
    return (still + mask * delta).clamp(-1.0, 1.0), mask


@dataclass
class GeneratorState:
    """What the generator carries from one chunk of frames to the next while streaming.

    Attributes:
        z_id: ``(B, identity_size)`` identity encoding of the still.
        skips: identity-encoder maps of the still (largest first), ``(B, C, h, w)`` each.
        context_hidden: ``(context_layers, B, context_size)`` context-GRU state, or None at the start.
        noise_hidden: ``(1, B, noise_size)`` noise-GRU state, or None at the start.
        still: ``(B, 3, S, S)`` the still itself (``"residual"`` generators add their output to it).
    """

    z_id: torch.Tensor
    skips: list[torch.Tensor]
    context_hidden: torch.Tensor | None = None
    noise_hidden: torch.Tensor | None = None
    still: torch.Tensor | None = None


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
        self.residual = config.output_mode == "residual"
        self.frame_decoder = FrameDecoder(config.image_size, latent, self.identity_encoder.channels,
                                          out_channels=4 if self.residual else 3, final_tanh=not self.residual)

    def start(self, still: torch.Tensor) -> GeneratorState:
        """Encode the still ``(B, 3, S, S)`` in [-1, 1] and return the initial streaming state."""
        z_id, skips = self.identity_encoder(still)
        return GeneratorState(z_id=z_id, skips=skips, still=still if self.residual else None)

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
        frames, _, state = self.step_with_mask(state, windows, noise)
        return frames, state

    def step_with_mask(
        self, state: GeneratorState, windows: torch.Tensor, noise: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, GeneratorState]:
        """:meth:`step`, also returning the mask ``(B, T, 1, S, S)`` of a ``"residual"`` generator (else None)."""
        b, t = windows.shape[:2]
        z_c, ch = self.context_encoder(windows, state.context_hidden)
        z_n, nh = self.noise_generator(noise, state.noise_hidden)
        z_id = state.z_id[:, None].expand(b, t, -1)
        latent = torch.cat([z_c, z_id, z_n], 2).reshape(b * t, -1)
        skips = [s[:, None].expand(b, t, *s.shape[1:]).reshape(b * t, *s.shape[1:]) for s in state.skips]
        raw = self.frame_decoder(latent, skips)
        mask = None
        if self.residual:
            if state.still is None:
                raise ValueError("a residual generator's state needs the still (use Generator.start)")
            still = state.still[:, None].expand(b, t, *state.still.shape[1:]).reshape(b * t, *state.still.shape[1:])
            raw, m = residual_output(still, raw)
            mask = m.reshape(b, t, 1, *self.frame_shape)
        frames = raw.reshape(b, t, 3, *self.frame_shape)
        return frames, mask, GeneratorState(state.z_id, state.skips, ch, nh, state.still)

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
        return self.forward_with_mask(still, windows, noise)[0]

    def forward_with_mask(
        self, still: torch.Tensor, windows: torch.Tensor, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`forward`, also returning the mask ``(B, T, 1, S, S)`` (``"residual"`` only, else None)."""
        b, t = windows.shape[:2]
        if noise is None:
            noise = torch.randn(b, t, self.config.noise_size, device=windows.device) * self.config.noise_std
        frames, mask, _ = self.step_with_mask(self.start(still), windows, noise)
        return frames, mask


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
