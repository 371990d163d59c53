"""K-shot adaptation of a texture generator to a new person (Das et al. 2020, Sec. 3.4, Fig. 3 steps 7-10).

At test time the (meta-)trained t-GAN is fine-tuned on K frames of the target person (K = 20 in the
paper) with their ground-truth landmarks, minimising the training loss (eq. 11; D_T is fine-tuned
too). The result is a :class:`PersonModel`: the adapted generator plus N of the K frames as its
texture references, able to render any landmark sequence of that person (:meth:`PersonModel.generate`).

* :func:`person_frames_from_video` / :func:`person_frames_from_photos`: crops and crop landmarks of a
  new person from a short video or a few photos (with :mod:`talkface.face`);
* :func:`adapt`: the fine-tuning; the same function fine-tunes a meta-learned model (MAML) and the
  transfer-learning baseline (an ordinarily trained model, Fig. 8);
* :func:`evaluate_reconstruction` / :func:`evaluate_store`: PSNR/SSIM of reconstructions from
  ground-truth landmarks (``skimage.metrics``; per fine-tuning step through :func:`adapt`'s callback:
  Fig. 8, 9, Table 4);
* :func:`save_person_model` / :func:`load_person_model`: one ``.pt`` file per person.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from talkface.data.preprocess import neutral_frame_index
from talkface.errors import InputError
from talkface.face.align import crop_transform, crop_transforms, transform_points, warp_crop
from talkface.face.eyes import eye_aspect_ratio
from talkface.io.atomic import save_torch
from talkface.texture.data import FrameStore, landmark_image, make_sample
from talkface.texture.tgan import TextureConfig, TextureGAN, build_generator, tensor_to_images, warp_inputs
from talkface.train.core import dataclass_from_dict

__all__ = [
    "AdaptConfig",
    "PersonModel",
    "adapt",
    "choose_references",
    "evaluate_reconstruction",
    "evaluate_store",
    "image_metrics",
    "mouth_box",
    "person_frames_from_video",
    "person_frames_from_photos",
    "save_person_model",
    "load_person_model",
]

PERSON_FORMAT = "talkface-person-texture"
PERSON_VERSION = 1


@dataclass
class AdaptConfig:
    """How to fine-tune on K frames of a person.

    Attributes:
        steps: optimiser steps (one batch each); ``steps * batch_size / K`` is the number of epochs.
            The default (20 steps of 4 = 4 epochs at K = 20) took 44-56 s for a ``base_channels=8``
            128² t-GAN on one shared CPU core.
        lr: learning rate of the fine-tuning optimiser.
        optimizer: ``"adam"`` (β from the model config) or ``"sgd"`` (plain steps, like MAML's inner loop).
        batch_size: target frames per step (drawn from the K frames without replacement, per epoch).
        num_references: N of the K frames used as texture references (the paper uses 5 at test time);
            the first is the most neutral frame (mouth closed), the others spread over the K frames.
        adversarial: also fine-tune D_T and use the adversarial loss (eq. 11); False: no D step and no
            adversarial term.
        seed: seed of the batch order.
        num_threads: ``torch.set_num_threads`` during adaptation (None: leave as is).
    """

    steps: int = 20
    lr: float = 1e-4
    optimizer: str = "adam"
    batch_size: int = 4
    num_references: int = 1
    adversarial: bool = True
    seed: int = 0
    num_threads: int | None = None


@dataclass
class PersonModel:
    """A texture generator adapted to one person, with that person's reference frames.

    Attributes:
        generator: the adapted generator (eval mode).
        config: its :class:`TextureConfig`.
        reference_images: (N, S, S, 3) uint8 reference crops (texture source).
        reference_landmarks: (N, 68, 2) float32 their landmarks, crop pixels.
        info: free-form facts (K, steps, seconds, source model).
    """

    generator: nn.Module
    config: TextureConfig
    reference_images: np.ndarray
    reference_landmarks: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def image_size(self) -> int:
        """Crop side S, pixels."""
        return int(self.config.image_size)

    def reference_tensors(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """(1, N, 3, S, S) reference images and landmark images in [-1, 1]."""
        s = make_sample(
            self.reference_images[0], self.reference_landmarks[0], self.reference_images, self.reference_landmarks
        )
        return s["reference_images"][None].to(device), s["reference_landmark_images"][None].to(device)

    @torch.no_grad()
    def generate(self, landmarks: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """Render frames of this person for a landmark sequence.

        Args:
            landmarks: (T, 68, 2) float32 landmarks in crop pixels (S×S crops like the references).
            batch_size: frames per forward pass.

        Returns:
            (T, S, S, 3) uint8 RGB face crops.
        """
        lm = np.asarray(landmarks, dtype=np.float32)
        if lm.ndim != 3 or lm.shape[1:] != (68, 2):
            raise ValueError(f"landmarks must be (T, 68, 2), got {lm.shape}")
        device = next(self.generator.parameters()).device
        self.generator.eval()
        refs, ref_lms = self.reference_tensors(device)
        ref_pts = torch.from_numpy(np.asarray(self.reference_landmarks, dtype=np.float32))[None].to(device)
        out = []
        for start in range(0, len(lm), batch_size):
            chunk = lm[start : start + batch_size]
            lms = np.stack([landmark_image(p, self.image_size) for p in chunk])
            x = (torch.from_numpy(lms).float().to(device) / 127.5 - 1.0).permute(0, 3, 1, 2)
            pts = {"points": torch.from_numpy(chunk).to(device), "reference_points": ref_pts}
            extra = warp_inputs(self.config, pts)
            out.append(tensor_to_images(self.generator(x, refs, ref_lms, **extra).image))
        return np.concatenate(out) if out else np.zeros((0, self.image_size, self.image_size, 3), np.uint8)


def choose_references(landmarks: np.ndarray, n: int) -> list[int]:
    """Indices of N reference frames among K: the most neutral (smallest mouth opening) first, then spread.

    Args:
        landmarks: (K, 68, 2) landmarks.
        n: number of references (clipped to K).

    Returns:
        List of distinct indices.
    """
    k = len(landmarks)
    ear = eye_aspect_ratio(landmarks)
    first = neutral_frame_index(landmarks, ear, np.ones(k, dtype=bool))
    rest = [int(i) for i in np.linspace(0, k - 1, max(n, 1) + 1).round().astype(int) if int(i) != first]
    out = [first]
    for i in rest:
        if len(out) >= min(n, k):
            break
        if i not in out:
            out.append(i)
    return out


def _check_frames(frames: np.ndarray, landmarks: np.ndarray, size: int) -> None:
    if frames.ndim != 4 or frames.shape[1:] != (size, size, 3) or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (K, {size}, {size}, 3) uint8, got {frames.shape} {frames.dtype}")
    if landmarks.shape != (len(frames), 68, 2):
        raise ValueError(f"landmarks must be ({len(frames)}, 68, 2), got {landmarks.shape}")


def adapt(
    model: TextureGAN,
    frames: np.ndarray,
    landmarks: np.ndarray,
    config: AdaptConfig | None = None,
    *,
    steps: int | None = None,
    callback: Callable[[int, PersonModel, dict[str, float]], None] | None = None,
) -> PersonModel:
    """Fine-tune a (meta-)trained texture model on K frames of a new person.

    The model is copied (the argument is not changed). Each step draws ``batch_size`` of the K frames
    as targets (the N references stay fixed), takes a D_T step (if adversarial) and a G_T step on the
    model's own training loss (eq. 11, or Sinha et al. eq. 14 for the attention variant).

    Args:
        model: a trained :class:`TextureGAN` (e.g. :class:`talkface.texture.meta.MetaTextureGAN` from
            :func:`talkface.train.core.load_module`).
        frames: (K, S, S, 3) uint8 aligned crops of the person (:func:`person_frames_from_video`).
        landmarks: (K, 68, 2) float32 their landmarks, crop pixels.
        config: fine-tuning settings (default :class:`AdaptConfig`).
        steps: overrides ``config.steps``.
        callback: called as ``callback(step, person, losses)`` before the first step (step 0, losses
            empty) and after every step (the person model shares the weights being trained).

    Returns:
        The adapted :class:`PersonModel` (generator in eval mode, on the model's device);
        ``info["seconds"]`` is the fine-tuning time.
    """
    cfg = config or AdaptConfig()
    n_steps = cfg.steps if steps is None else steps
    frames = np.asarray(frames)
    landmarks = np.asarray(landmarks, dtype=np.float32)
    size = model.config.image_size
    _check_frames(frames, landmarks, size)
    if cfg.optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {cfg.optimizer!r}")
    old_threads = torch.get_num_threads()
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    try:
        start = time.perf_counter()
        work = copy.deepcopy(model).train()
        device = next(work.generator.parameters()).device
        refs = choose_references(landmarks, cfg.num_references)
        samples = [make_sample(frames[i], landmarks[i], frames[refs], landmarks[refs]) for i in range(len(frames))]
        data = {k: torch.stack([s[k] for s in samples]).to(device) for k in samples[0]}
        person = PersonModel(work.generator, work.config, frames[refs].copy(), landmarks[refs].copy())
        use_d = cfg.adversarial and work.discriminator is not None
        if not use_d:
            work.discriminator = None  # no D step and no adversarial / feature-matching term
        betas = tuple(work.config.adam_betas)

        def make_opt(params: Any) -> torch.optim.Optimizer:
            if cfg.optimizer == "sgd":
                return torch.optim.SGD(params, lr=cfg.lr)
            return torch.optim.Adam(params, lr=cfg.lr, betas=betas)  # type: ignore[arg-type]

        opt_g = make_opt(work.generator.parameters())
        opt_d = make_opt(work.discriminator.parameters()) if work.discriminator is not None else None
        rng = np.random.default_rng(cfg.seed)
        order: list[int] = []
        excluded = 0.0
        if callback is not None:
            t0 = time.perf_counter()
            callback(0, person, {})
            work.train()
            excluded += time.perf_counter() - t0
        for step in range(1, n_steps + 1):
            idx: list[int] = []
            while len(idx) < min(cfg.batch_size, len(frames)):
                if not order:
                    order = list(rng.permutation(len(frames)))
                idx.append(int(order.pop()))
            batch = {k: v[idx] for k, v in data.items()}
            out = work.generate(batch)
            logs: dict[str, float] = {}
            if work.discriminator is not None and opt_d is not None:
                d_loss, _ = work.discriminator_loss(batch, out.image)
                opt_d.zero_grad()
                d_loss.backward()
                opt_d.step()
                logs["d"] = float(d_loss.detach())
                work.discriminator.requires_grad_(False)
            g_loss, terms = work.generator_loss(batch, out)
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            if work.discriminator is not None:
                work.discriminator.requires_grad_(True)
            logs.update({k: float(v.detach()) for k, v in terms.items()})
            if callback is not None:
                t0 = time.perf_counter()
                callback(step, person, logs)
                work.train()
                excluded += time.perf_counter() - t0
        work.generator.eval()
        person.info = {
            "k": int(len(frames)),
            "steps": int(n_steps),
            "seconds": round(time.perf_counter() - start - excluded, 3),
            "adapt_config": asdict(cfg),
            "variant": work.config.variant,
        }
        return person
    finally:
        torch.set_num_threads(old_threads)


def mouth_box(landmarks: np.ndarray, size: int, pad: float = 0.25) -> tuple[int, int, int, int]:
    """Box ``(x0, y0, x1, y1)`` (pixels, end exclusive) around all frames' mouth points 48-67, padded by ``pad``."""
    mouth = np.asarray(landmarks, dtype=np.float32).reshape(-1, 68, 2)[:, 48:68].reshape(-1, 2)
    lo, hi = mouth.min(axis=0), mouth.max(axis=0)
    margin = pad * (hi - lo) + 2.0
    x0, y0 = np.clip(np.floor(lo - margin), 0, size - 1).astype(int)
    x1, y1 = np.clip(np.ceil(hi + margin) + 1, 1, size).astype(int)
    return int(x0), int(y0), int(x1), int(y1)


def image_metrics(generated: np.ndarray, target: np.ndarray, landmarks: np.ndarray | None = None) -> dict[str, float]:
    """Mean PSNR (dB) and SSIM of uint8 RGB frames with :mod:`skimage.metrics`.

    Args:
        generated: (T, S, S, 3) uint8.
        target: (T, S, S, 3) uint8 ground truth.
        landmarks: optional (T, 68, 2) landmarks of the targets; adds ``mouth_psnr``, the PSNR inside
            the padded box around all frames' mouth points (where speech changes the face).

    Returns:
        ``{"psnr", "ssim"}`` (and ``"mouth_psnr"``) averaged over the T frames.
    """
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    pairs = list(zip(generated, target, strict=True))
    out = {
        "psnr": float(np.mean([peak_signal_noise_ratio(t, g, data_range=255) for g, t in pairs])),
        "ssim": float(np.mean([structural_similarity(t, g, channel_axis=-1, data_range=255) for g, t in pairs])),
    }
    if landmarks is not None:
        x0, y0, x1, y1 = mouth_box(landmarks, target.shape[1])
        out["mouth_psnr"] = float(
            np.mean([peak_signal_noise_ratio(t[y0:y1, x0:x1], g[y0:y1, x0:x1], data_range=255) for g, t in pairs])
        )
    return out


def evaluate_reconstruction(person: PersonModel, frames: np.ndarray, landmarks: np.ndarray) -> dict[str, float]:
    """PSNR/SSIM of a person model's frames rendered from ground-truth landmarks.

    Args:
        person: the (adapted) person model.
        frames: (T, S, S, 3) uint8 ground-truth crops.
        landmarks: (T, 68, 2) float32 their landmarks, crop pixels.

    Returns:
        ``{"psnr", "ssim", "mouth_psnr"}``.
    """
    return image_metrics(person.generate(landmarks), frames, landmarks)


def person_from_model(
    model: TextureGAN, frames: np.ndarray, landmarks: np.ndarray, num_references: int = 1
) -> PersonModel:
    """A :class:`PersonModel` from a model without fine-tuning (references chosen among ``frames``)."""
    refs = choose_references(np.asarray(landmarks, dtype=np.float32), num_references)
    return PersonModel(
        model.generator, model.config, frames[refs].copy(), np.asarray(landmarks)[refs].astype(np.float32)
    )


def evaluate_store(
    model: TextureGAN, store: FrameStore, num_references: int = 1, max_frames_per_clip: int = 0
) -> dict[str, float]:
    """Reconstruction quality on held-out clips, without adaptation.

    For every clip the references are chosen among its frames (the neutral frame first) and every
    other target frame is rendered from its ground-truth landmarks (the references themselves are not
    scored). The same frames are also scored for the trivial baseline that outputs the first
    reference unchanged (``copy_psnr``, ``copy_ssim``), which any generator should beat on the mouth.

    Args:
        model: a trained texture model.
        store: held-out clips (:meth:`FrameStore.from_datasets` of a test split).
        num_references: N.
        max_frames_per_clip: evaluate at most this many (evenly spaced) targets per clip (0: all).

    Returns:
        ``{"psnr", "ssim", "mouth_psnr", "copy_psnr", "copy_ssim", "copy_mouth_psnr", "frames"}``, averaged
        over all evaluated frames (``mouth_psnr``: see :func:`image_metrics`).
    """
    was_training = model.training
    model.eval()
    sums = {k: 0.0 for k in ("psnr", "ssim", "mouth_psnr", "copy_psnr", "copy_ssim", "copy_mouth_psnr")}
    count = 0
    for clip in store.clips:
        person = person_from_model(model, clip.frames, clip.points, num_references)
        refs = choose_references(clip.points, num_references)
        idx = np.array([i for i in clip.targets[:, 0] if int(i) not in refs], dtype=np.int64)
        if max_frames_per_clip and len(idx) > max_frames_per_clip:
            idx = idx[np.linspace(0, len(idx) - 1, max_frames_per_clip).round().astype(int)]
        if len(idx) == 0:
            continue
        m = image_metrics(person.generate(clip.points[idx]), clip.frames[idx], clip.points[idx])
        c = image_metrics(np.repeat(clip.frames[refs[0]][None], len(idx), axis=0), clip.frames[idx], clip.points[idx])
        for key, value in (*m.items(), *(("copy_" + k, v) for k, v in c.items())):
            sums[key] += value * len(idx)
        count += len(idx)
    model.train(was_training)
    out = {k: v / max(count, 1) for k, v in sums.items()}
    out["frames"] = float(count)
    return out


def person_frames_from_video(
    frames: np.ndarray, size: int = 128, k: int = 20, path: str | os.PathLike[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """K aligned crops and crop landmarks of the person in a short video.

    Landmarks are tracked (:func:`talkface.face.landmarks.track_landmarks`), crops follow the smoothed
    crop transforms of the preprocessing (:func:`talkface.face.align.crop_transforms`), and K frames are
    taken evenly spaced.

    Args:
        frames: (T, H, W, 3) uint8 RGB video frames.
        size: crop side S.
        k: number of frames to return (all if the video is shorter).
        path: the video file (named in errors).

    Returns:
        ((K, S, S, 3) uint8 crops, (K, 68, 2) float32 landmarks in crop pixels).

    Raises:
        InputError: no face in the video.
    """
    from talkface.face.landmarks import NoFaceError, track_landmarks  # lazy: loads dlib

    try:
        track = track_landmarks(frames, path=path)
    except NoFaceError as exc:
        raise InputError(path, "no face found in the video") from exc
    if not track.detected.any():
        raise InputError(path, "no face found in the video")
    affines = crop_transforms(track.landmarks, size)
    ok = np.flatnonzero(track.detected)
    idx = ok[np.unique(np.linspace(0, len(ok) - 1, min(k, len(ok))).round().astype(int))]
    crops = np.stack([warp_crop(frames[i], affines[i], size) for i in idx])
    points = transform_points(track.landmarks[idx], affines[idx])
    return crops.astype(np.uint8), points.astype(np.float32)


def person_frames_from_photos(
    photos: Sequence[np.ndarray], size: int = 128, paths: Sequence[str | os.PathLike[str] | None] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Aligned crops and crop landmarks from K photos of one person (one face per photo).

    Args:
        photos: K images (H_i, W_i, 3) uint8 RGB, sizes may differ.
        size: crop side S.
        paths: the photos' files (named in errors).

    Returns:
        ((K, S, S, 3) uint8 crops, (K, 68, 2) float32 landmarks in crop pixels).

    Raises:
        InputError: a photo without exactly one face.
    """
    from talkface.face.landmarks import landmarks_for_image  # lazy: loads dlib

    paths = list(paths) if paths is not None else [None] * len(photos)
    crops, points = [], []
    for photo, path in zip(photos, paths, strict=True):
        lm = landmarks_for_image(photo, path)
        affine = crop_transform(lm, size)
        crops.append(warp_crop(photo, affine, size))
        points.append(transform_points(lm, affine))
    return np.stack(crops).astype(np.uint8), np.stack(points).astype(np.float32)


def save_person_model(path: str | os.PathLike[str], person: PersonModel) -> Path:
    """Write a person model to one file (atomically): generator weights, config, references, info.

    Args:
        path: destination (``.pt``).
        person: the model.

    Returns:
        The path written.
    """
    config = asdict(person.config)
    config.pop("meta", None)
    payload = {
        "format": PERSON_FORMAT,
        "version": PERSON_VERSION,
        "config": config,
        "generator": {k: v.detach().cpu() for k, v in person.generator.state_dict().items()},
        "reference_images": torch.from_numpy(np.ascontiguousarray(person.reference_images)),
        "reference_landmarks": torch.from_numpy(np.ascontiguousarray(person.reference_landmarks, dtype=np.float32)),
        "info": _plain(person.info),
    }
    return save_torch(payload, path)


def _plain(obj: Any) -> Any:
    """Info dict reduced to str/int/float/bool/None/list/dict (loadable with ``weights_only``)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, bool | int | float | str) or obj is None:
        return obj
    return str(obj)


def load_person_model(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> PersonModel:
    """Read a file written by :func:`save_person_model`.

    Args:
        path: the ``.pt`` file.
        map_location: device for the generator.

    Returns:
        The :class:`PersonModel` (generator in eval mode).

    Raises:
        InputError: missing file, or not a talkface person model.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "person model not found")
    try:
        payload = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not a person model"
        raise InputError(p, f"not a readable person model ({exc.__class__.__name__})") from exc
    if not isinstance(payload, dict) or payload.get("format") != PERSON_FORMAT:
        raise InputError(p, "not a talkface person model")
    if payload.get("version") != PERSON_VERSION:
        raise InputError(p, f"person model version {payload.get('version')} is not supported")
    config = dataclass_from_dict(TextureConfig, payload["config"])
    generator = build_generator(config)
    try:
        generator.load_state_dict(payload["generator"])
    except RuntimeError as exc:
        raise InputError(p, "person model weights do not match its config") from exc
    generator.to(map_location).eval()
    return PersonModel(
        generator,
        config,
        payload["reference_images"].numpy(),
        payload["reference_landmarks"].numpy(),
        dict(payload.get("info", {})),
    )
