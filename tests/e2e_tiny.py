"""A tiny temporal-GAN configuration shared by the e2e tests (fast on one CPU thread)."""

from __future__ import annotations

from talkface.e2e.config import E2EConfig

TINY = {
    "image_size": 16,
    "sample_rate": 8000,
    "window_s": 0.08,
    "base_channels": 4,
    "audio_base_channels": 4,
    "audio_code_size": 16,
    "context_size": 16,
    "disc_frame_code_size": 8,
    "disc_audio_code_size": 8,
    "disc_rnn_size": 16,
}


def tiny(**kw: object) -> E2EConfig:
    """:data:`TINY` with ``kw`` replaced."""
    return E2EConfig(**{**TINY, **kw})  # type: ignore[arg-type]
