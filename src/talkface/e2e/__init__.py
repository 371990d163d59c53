"""End-to-end speech-driven facial animation with temporal GANs (Vougioukas et al., BMVC 2018).

The baseline to compare the cascade against: one generator maps a still face crop and raw speech
straight to video frames. See :mod:`talkface.e2e.temporal_gan` (networks, losses, training
module, streaming generation), :mod:`talkface.e2e.data` (training sequences) and
:mod:`talkface.e2e.generate` (photo + speech -> mp4, evaluation).
"""

from talkface.e2e.data import E2EDataConfig, E2EDataModule, train_e2e
from talkface.e2e.generate import animate_e2e, evaluate_e2e, load_generator
from talkface.e2e.temporal_gan import (
    ABLATIONS,
    E2EConfig,
    Generator,
    TemporalGAN,
    ablation_config,
    generate_batch,
    generate_stream,
)

__all__ = [
    "ABLATIONS",
    "E2EConfig",
    "E2EDataConfig",
    "E2EDataModule",
    "Generator",
    "TemporalGAN",
    "ablation_config",
    "animate_e2e",
    "evaluate_e2e",
    "generate_batch",
    "generate_stream",
    "load_generator",
    "train_e2e",
]
