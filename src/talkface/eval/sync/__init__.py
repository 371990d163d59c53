"""Audio-visual synchronisation: a compact SyncNet and the LSE-D / LSE-C / AV-offset scores.

The papers measure lip sync with SyncNet (Chung & Zisserman 2016): "AV offset" and "AV
confidence"; Wav2Lip (Prajwal et al. 2020) reports the same as LSE-D (distance) and LSE-C
(confidence). No pretrained SyncNet can be had offline, so talkface trains its own small one
(:func:`train_syncnet`, GRID) and ships it as ``talkface/assets/syncnet.pt``. Its scores have
the meaning of SyncNet's but *not its scale* (embeddings are unit vectors here, so distances lie
in [0, 2]): compare methods with each other and with the ground-truth row, not with published
numbers.

The package, one concern per module (importing the package does not import Lightning):

* :mod:`~talkface.eval.sync.inputs` — mouth crops, log-mel, 25 fps resampling, audio shifts;
* :mod:`~talkface.eval.sync.network` — :class:`SyncNet` (a plain ``nn.Module``), its config and
  its inference file (:func:`export_syncnet`, :func:`load_syncnet`);
* :mod:`~talkface.eval.sync.scoring` — :class:`SyncScorer`: AV offset, LSE-D, LSE-C; the
  model-free :func:`opening_energy_offset`;
* :mod:`~talkface.eval.sync.data` — training clips and items;
* :mod:`~talkface.eval.sync.module` — the Lightning wrappers ``SyncNetModule`` /
  ``SyncNetDataModule`` (imports Lightning; not re-exported here);
* :mod:`~talkface.eval.sync.train` — :func:`train_syncnet`, :func:`validate_syncnet`,
  :func:`realign_clips`.
"""

from __future__ import annotations

from talkface.eval.sync.data import SyncClip, SyncNetDataConfig, prepare_sync_arrays
from talkface.eval.sync.inputs import (
    AUDIO_SAMPLE_RATE,
    MAX_OFFSET,
    SYNC_FPS,
    log_mel,
    mouth_crops,
    mouth_crops_from_aligned,
    resample_to_sync_fps,
    shift_audio,
)
from talkface.eval.sync.network import SyncNet, SyncNetConfig, default_syncnet_path, export_syncnet, load_syncnet
from talkface.eval.sync.scoring import SyncResult, SyncScorer, offset_search, opening_energy_offset
from talkface.eval.sync.train import SyncTrainResult, realign_clips, train_syncnet, validate_syncnet

__all__ = [
    "AUDIO_SAMPLE_RATE",
    "MAX_OFFSET",
    "SYNC_FPS",
    "SyncClip",
    "SyncNet",
    "SyncNetConfig",
    "SyncNetDataConfig",
    "SyncResult",
    "SyncScorer",
    "SyncTrainResult",
    "default_syncnet_path",
    "export_syncnet",
    "load_syncnet",
    "log_mel",
    "mouth_crops",
    "mouth_crops_from_aligned",
    "offset_search",
    "opening_energy_offset",
    "prepare_sync_arrays",
    "realign_clips",
    "resample_to_sync_fps",
    "shift_audio",
    "train_syncnet",
    "validate_syncnet",
]
