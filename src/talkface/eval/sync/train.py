"""Training entry point of the sync model and its held-out checks.

:func:`train_syncnet` trains :class:`~talkface.eval.sync.module.SyncNetModule` on a prepared
dataset (GRID for the bundled ``assets/syncnet.pt``), validates it (:func:`validate_syncnet`) and
exports the plain network (:func:`~talkface.eval.sync.network.export_syncnet`);
:func:`realign_clips` re-synchronises training clips with a first model. Lightning is imported
only when :func:`train_syncnet` runs (seconds of start-up that validation and scoring do not need).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from talkface.data.dataset import SPLITS, PreparedDataset
from talkface.eval.sync.data import SyncClip, SyncNetDataConfig, prepare_sync_arrays
from talkface.eval.sync.inputs import AUDIO_SAMPLE_RATE, log_mel, shift_audio
from talkface.eval.sync.network import SyncNet, SyncNetConfig, export_syncnet, load_syncnet
from talkface.eval.sync.scoring import SyncScorer

if TYPE_CHECKING:
    from talkface.train.core import TrainConfig


@dataclass
class SyncTrainResult:
    """What :func:`train_syncnet` produced.

    Attributes:
        model_path: the exported inference file.
        checkpoint: the Lightning checkpoint (for resuming).
        validation: held-out numbers (see :func:`validate_syncnet`).
    """

    model_path: Path
    checkpoint: Path
    validation: dict[str, float] = field(default_factory=dict)


def train_syncnet(
    dataset_root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    train_config: TrainConfig | None = None,
    config: SyncNetConfig | None = None,
    data_config: SyncNetDataConfig | None = None,
    max_train_clips: int | None = None,
    max_val_clips: int = 100,
    extra_train: Sequence[str | os.PathLike[str]] = (),
    exclude: Sequence[str] = (),
    init: str | os.PathLike[str] | None = None,
    realign_with: str | os.PathLike[str] | None = None,
    export_to: str | os.PathLike[str] | None = None,
    warm_start: str | os.PathLike[str] | None = None,
) -> SyncTrainResult:
    """Train the sync model on a prepared dataset, validate it on held-out clips and export it.

    Args:
        dataset_root: Prepared dataset (``talkface preprocess``; the bundled model saw GRID).
        out: Run folder (checkpoints, ``metrics.csv``, ``config.json``, ``syncnet.pt``); a run
            interrupted there is resumed.
        train_config: A :class:`talkface.train.core.TrainConfig`; default 2000 batches of 32 items, lr 1e-3,
            CPU with 2 threads.
        config, data_config: Model and sampling settings.
        max_train_clips, max_val_clips: Limit the clips loaded from the train and validation splits.
        extra_train: More prepared datasets whose clips (all splits) are added to the training set; an
            utterance already loaded (same name after the last ``/``) is not added twice.
        exclude: Utterance names never trained on (see :func:`prepare_sync_arrays`), e.g. the held-out
            clips of another dataset; validation still uses the whole validation split.
        init: Start from the weights of an exported model (:func:`export_syncnet`; e.g. the bundled one
            to fine-tune on new data); its config replaces ``config``.
        realign_with: An exported model used to re-synchronise the training clips first (:func:`realign_clips`).
        export_to: Where to write the inference file (default ``out/syncnet.pt``).
        warm_start: Like ``init`` but keeping ``config``: the layers both architectures share start from this
            exported model, the new ones (e.g. ``audio_context`` layers) from scratch.

    Returns:
        A :class:`SyncTrainResult`; the validation numbers are also stored in the exported file's ``meta``.
    """
    from talkface.eval.sync.module import SyncNetDataModule, SyncNetModule  # lazy: loads lightning, matplotlib
    from talkface.train.core import TrainConfig, fit  # lazy: loads lightning, matplotlib

    tc = train_config or TrainConfig(
        max_steps=2000, batch_size=32, lr=1e-3, accelerator="cpu", devices=1, num_threads=2,
        log_every_n_steps=25, checkpoint_every_n_steps=500,
    )
    start = load_syncnet(init) if init is not None else None
    cfg = start.config if start is not None else config or SyncNetConfig()
    dcfg = data_config or SyncNetDataConfig()
    out_dir = Path(out)
    train_clips = prepare_sync_arrays(dataset_root, "train", cfg, max_train_clips, exclude)
    for root in extra_train:
        for split in _nonempty_splits(root):
            seen = [c.clip_id.rsplit("/", 1)[-1] for c in train_clips]
            train_clips += prepare_sync_arrays(root, split, cfg, None, [*exclude, *seen])
    if realign_with is not None:
        train_clips = realign_clips(train_clips, SyncScorer(realign_with))
    module = SyncNetModule(cfg)
    if start is not None:
        module.net.load_state_dict(start.state_dict())
    elif warm_start is not None:  # every layer the two architectures share
        module.net.load_state_dict(load_syncnet(warm_start).state_dict(), strict=False)
    ckpt = fit(module, SyncNetDataModule(train_clips, dcfg, tc.seed, cfg.audio_context), out_dir, tc,
               extra_configs={"dataset": {"root": os.fspath(dataset_root), "train_clips": len(train_clips)}})
    net: SyncNet = module.net.cpu().eval()
    splits = _nonempty_splits(dataset_root)
    val_split = "val" if "val" in splits else "test"
    val_clips = prepare_sync_arrays(dataset_root, val_split, cfg, max_val_clips) if val_split in splits else []
    validation = validate_syncnet(net, val_clips) if val_clips else {}
    meta = {"dataset": os.fspath(dataset_root), "extra_train": [os.fspath(r) for r in extra_train],
            "excluded": sorted(exclude), "train_clips": len(train_clips), "steps": tc.max_steps,
            "batch_size": tc.batch_size, "init": os.fspath(init) if init is not None else None,
            "realigned_with": os.fspath(realign_with) if realign_with is not None else None,
            "data_config": asdict(dcfg), "validation_split": val_split, "validation": validation}
    dest = Path(export_to) if export_to is not None else out_dir / "syncnet.pt"
    export_syncnet(net, dest, meta)
    return SyncTrainResult(model_path=dest, checkpoint=ckpt, validation=validation)


def _nonempty_splits(dataset_root: str | os.PathLike[str]) -> set[str]:
    return {name for name, ids in PreparedDataset(dataset_root).splits.items() if name in SPLITS and ids}


def realign_clips(clips: Sequence[SyncClip], scorer: SyncScorer, max_shift: float = 3.0) -> list[SyncClip]:
    """Shift each clip's speech so that the sync model finds it in sync (sub-frame, whole samples).

    Recordings are not always perfectly synchronised; as SyncNet is used to correct LRS / VoxCeleb
    clips, a first model's sub-frame offset
    (:attr:`~talkface.eval.sync.scoring.SyncResult.subframe_offset`) is removed from each training
    clip before training again. Clips whose offset exceeds ``max_shift`` frames are
    left as they are (more likely a model error than a recording one).

    Returns:
        New :class:`SyncClip` objects (mouths shared, speech and log-mel recomputed).
    """
    out: list[SyncClip] = []
    for clip in clips:
        audio = clip.audio_float()
        offset = scorer.score(clip.mouths, audio, AUDIO_SAMPLE_RATE).subframe_offset
        if abs(offset) > max_shift:
            out.append(clip)
            continue
        moved = shift_audio(audio, -offset, AUDIO_SAMPLE_RATE)  # heard at t + offset: advance by that much
        out.append(SyncClip(clip.clip_id, clip.mouths, log_mel(moved).astype(np.float16),
                            np.clip(np.round(moved * 32767.0), -32768, 32767).astype(np.int16)))
    return out


def validate_syncnet(
    net: SyncNet | SyncScorer, clips: Sequence[SyncClip], shifts: Sequence[int] = range(-5, 6)
) -> dict[str, float]:
    """Held-out checks of a sync model on real clips.

    For each clip: the offset found for the real pair; the offset found when the speech is
    shifted by k frames (:func:`shift_audio`: > 0 late) for every k in ``shifts``; and the
    confidence when the mouth is frozen (first mouth crop repeated, audio unchanged).

    Args:
        net: The model (or a scorer holding it).
        clips: Held-out clips (:func:`prepare_sync_arrays`).
        shifts: Audio shifts to test, frames.

    Returns:
        ``clips``; ``offset0_acc``: fraction of real clips scored at offset 0; ``shift_acc``:
        fraction of (clip, k) pairs detected at exactly k; ``shift_acc_pm1``: within +-1 frame;
        ``shift_rel_acc``: fraction where the offset moved by exactly k from the clip's own offset
        (what matters when the recording itself is not perfectly in sync);
        ``lse_d``, ``lse_c``: means over the real clips; ``frozen_lse_c``: mean confidence of the
        frozen copies; ``frozen_below_real``: fraction of clips whose frozen copy scores a lower
        LSE-C than the real clip.
    """
    scorer = net if isinstance(net, SyncScorer) else SyncScorer.from_model(net)
    res: dict[str, list[float]] = {k: [] for k in ("off0", "shift", "shift1", "rel", "d", "c", "fc", "fbelow")}
    for clip in clips:
        audio = clip.audio_float()
        real = scorer.score(clip.mouths, audio, AUDIO_SAMPLE_RATE)
        res["off0"].append(float(real.offset == 0))
        res["d"].append(real.lse_d)
        res["c"].append(real.lse_c)
        for k in shifts:
            r = scorer.score(clip.mouths, shift_audio(audio, k, AUDIO_SAMPLE_RATE), AUDIO_SAMPLE_RATE)
            res["shift"].append(float(r.offset == k))
            res["shift1"].append(float(abs(r.offset - k) <= 1))
            res["rel"].append(float(r.offset - real.offset == k))
        frozen = scorer.score(np.repeat(clip.mouths[:1], clip.mouths.shape[0], axis=0), audio, AUDIO_SAMPLE_RATE)
        res["fc"].append(frozen.lse_c)
        res["fbelow"].append(float(frozen.lse_c < real.lse_c))
    return {
        "clips": float(len(clips)),
        "offset0_acc": float(np.mean(res["off0"])),
        "shift_acc": float(np.mean(res["shift"])),
        "shift_acc_pm1": float(np.mean(res["shift1"])),
        "shift_rel_acc": float(np.mean(res["rel"])),
        "lse_d": float(np.mean(res["d"])),
        "lse_c": float(np.mean(res["c"])),
        "frozen_lse_c": float(np.mean(res["fc"])),
        "frozen_below_real": float(np.mean(res["fbelow"])),
    }
