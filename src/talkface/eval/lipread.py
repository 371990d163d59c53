"""Intelligibility: a GRID lip reader and the word error rate (WER) of talking-head videos.

The cascade and temporal-GAN papers judge a generated mouth by whether a lip reader trained on GRID
reads the spoken sentence off it. talkface trains its own small reader (training code:
:mod:`talkface.eval.lipread_train`) and bundles it as ``assets/lipreader.pt``.

GRID sentences have a fixed grammar of six slots (:data:`SLOTS`, :data:`VOCAB`):
``command colour preposition letter digit adverb``, e.g. "bin blue at f two now". The file
names of the corpus spell a sentence by its initials (``bbaf2n``; the digit as a numeral), and
the corpus's ``.align`` files list the words with their times. The reader therefore classifies
each slot: a spatio-temporal conv front-end over grey mouth crops (LipNet-like, small), a
bidirectional GRU, and one attention-pooling head per slot (no word alignment is needed at
inference).

Mouth crops (:func:`lip_crops`) are cut from aligned face crops with the landmarks of those
frames: centred on the temporally smoothed mouth centre, rotated by the eye line and scaled by
the inter-ocular distance, so the same crop comes out of a prepared clip (its ``crop_landmarks``)
and of generated frames (landmarks tracked on them, as ``talkface evaluate`` does for LMD).

Scores: :func:`word_error_rate` (Levenshtein distance over words / reference length) and
per-slot accuracy; :class:`LipReader` reads a clip.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from talkface.errors import InputError
from talkface.face.align import crop_transforms, transform_points, warp_crop
from talkface.io.checkpoint import load_inference_file, save_inference_file

__all__ = [
    "CACHE_SIZE",
    "INPUT_SIZE",
    "SLOTS",
    "VOCAB",
    "LipReadNet",
    "LipReader",
    "LipReaderConfig",
    "chance_wer",
    "clip_sources",
    "default_lipreader_path",
    "export_lipreader",
    "grid_sentence",
    "lip_crops",
    "load_lipreader",
    "sentence_from_align",
    "sentence_from_name",
    "slot_accuracy",
    "word_error_rate",
]

PathLike = str | os.PathLike[str]

#: The six slots of a GRID sentence, in spoken order.
SLOTS: tuple[str, ...] = ("command", "colour", "preposition", "letter", "digit", "adverb")
#: Words of each slot.
VOCAB: dict[str, tuple[str, ...]] = {
    "command": ("bin", "lay", "place", "set"),
    "colour": ("blue", "green", "red", "white"),
    "preposition": ("at", "by", "in", "with"),
    "letter": tuple(c for c in "abcdefghijklmnopqrstuvxyz"),  # a-z without w
    "digit": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    "adverb": ("again", "now", "please", "soon"),
}
_DIGITS = {str(i): w for i, w in enumerate(VOCAB["digit"])}

#: (height, width) of the cached mouth crops (:func:`lip_crops`): the model's view plus a margin.
CACHE_SIZE: tuple[int, int] = (40, 80)
#: (height, width) the network sees: the central 1/:data:`_MARGIN` of a cached crop.
INPUT_SIZE: tuple[int, int] = (32, 64)
_MARGIN = 1.25
#: width of the cached crop in inter-ocular distances (eye centre to eye centre)
_CROP_WIDTH_IOD = 1.5 * _MARGIN


# --------------------------------------------------------------------------------------------
# Sentences
# --------------------------------------------------------------------------------------------


def sentence_from_name(name: str) -> tuple[str, ...] | None:
    """The GRID sentence a file name or clip id spells, or None if it is not a GRID name.

    The last six characters of the name's stem after its last ``_`` or ``/`` must be the
    initials of a grammatical sentence with the digit as a numeral: ``bbaf2n`` ->
    ("bin", "blue", "at", "f", "two", "now"); ``s1/bbaf2n``, ``grid_s1/bbaf2n.mp4`` and
    ``id2_vcd_swwp2s`` work too.
    """
    stem = Path(str(name).replace("\\", "/")).name
    stem = stem.split(".")[0].split("_")[-1].lower()
    if len(stem) != 6 or stem[4] not in _DIGITS:
        return None
    words: list[str] = []
    for slot, ch in zip(SLOTS, stem, strict=True):
        if slot == "digit":
            words.append(_DIGITS[ch])
            continue
        match = [w for w in VOCAB[slot] if w[0] == ch]
        if len(match) != 1:
            return None
        words.append(match[0])
    return tuple(words)


def sentence_from_align(path: PathLike) -> tuple[str, ...] | None:
    """The GRID sentence of a ``.align`` file (lines ``start end word``; ``sil``/``sp`` skipped).

    Returns None if the words are not a grammatical six-word GRID sentence.

    Raises:
        InputError: the file cannot be read or a line is not ``start end word``.
    """
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read alignment ({exc.__class__.__name__})") from exc
    words = []
    for no, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or not re.fullmatch(r"-?\d+(\.\d+)?", parts[0]):
            raise InputError(path, f"line {no} is not 'start end word': {line.strip()!r}")
        if parts[2].lower() not in ("sil", "sp"):
            words.append(parts[2].lower())
    if len(words) != len(SLOTS) or any(w not in VOCAB[s] for s, w in zip(SLOTS, words, strict=True)):
        return None
    return tuple(words)


def grid_sentence(clip_id: str, source: PathLike | None = None) -> tuple[str, ...] | None:
    """The GRID sentence of a clip: from a ``.align`` file beside its source video, else its name.

    Alignment files are looked for at ``<source>.align`` (same stem) and ``../align/<stem>.align``
    (the corpus layout ``video/*.mp4`` + ``align/*.align``).

    Returns:
        Six words, or None when the clip is not a GRID sentence.
    """
    if source is not None:
        src = Path(source)
        for cand in (src.with_suffix(".align"), src.parent.parent / "align" / f"{src.stem}.align"):
            if cand.is_file():
                found = sentence_from_align(cand)
                if found is not None:
                    return found
        found = sentence_from_name(src.stem)
        if found is not None:
            return found
    return sentence_from_name(clip_id)


def clip_sources(dataset: PathLike) -> dict[str, str]:
    """Clip id -> source video path of a prepared dataset, from its ``manifest*.jsonl`` (empty if none)."""
    import json

    out: dict[str, str] = {}
    for manifest in sorted(Path(dataset).glob("manifest*.jsonl")):
        for line in manifest.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and row.get("status") == "ok" and "id" in row and "source" in row:
                out[str(row["id"])] = str(row["source"])
    return out


def word_error_rate(reference: tuple[str, ...] | list[str], hypothesis: tuple[str, ...] | list[str]) -> float:
    """Word error rate: (substitutions + deletions + insertions) / reference words (Levenshtein)."""
    ref, hyp = list(reference), list(hypothesis)
    if not ref:
        raise ValueError("empty reference sentence")
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / len(ref)


def slot_accuracy(reference: tuple[str, ...], hypothesis: tuple[str, ...]) -> dict[str, float]:
    """Slot name -> 1.0 if that slot's word is right, else 0.0 (both sentences of six slots)."""
    if len(reference) != len(SLOTS) or len(hypothesis) != len(SLOTS):
        raise ValueError("GRID sentences have six words")
    return {s: float(r == h) for s, r, h in zip(SLOTS, reference, hypothesis, strict=True)}


def labels_of(sentence: tuple[str, ...]) -> np.ndarray:
    """(6,) int64 class index of each slot's word."""
    return np.asarray([VOCAB[s].index(w) for s, w in zip(SLOTS, sentence, strict=True)], dtype=np.int64)


def chance_wer() -> float:
    """Expected WER of a reader that always says the most frequent word of each slot, uniform grammar.

    The GRID sentences draw each slot's word uniformly, so the best guess without the video is
    right with probability 1/|slot|: WER = mean over slots of (1 - 1/|slot|).
    """
    return float(np.mean([1.0 - 1.0 / len(VOCAB[s]) for s in SLOTS]))


# --------------------------------------------------------------------------------------------
# Mouth crops
# --------------------------------------------------------------------------------------------


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along axis 0 (edges replicated)."""
    if sigma <= 0 or x.shape[0] < 2:
        return x
    from scipy.ndimage import gaussian_filter1d

    return np.asarray(gaussian_filter1d(x, sigma, axis=0, mode="nearest"))


def lip_crops(
    frames: np.ndarray, landmarks: np.ndarray, size: tuple[int, int] = CACHE_SIZE, smooth: float = 1.5
) -> np.ndarray:
    """Grey mouth crops of a face video, the lip reader's input (before its central view).

    Each frame is cut around the mean of its 20 mouth landmarks (48-67), rotated so that the eye
    line is level and scaled so that the crop is :data:`_CROP_WIDTH_IOD` inter-ocular distances
    wide (2:1 width:height); centre, angle and scale are smoothed over time (Gaussian, ``smooth``
    frames) against landmark jitter.

    Args:
        frames: (T, H, W, 3) uint8 RGB (aligned face crops of a prepared dataset, or any face video).
        landmarks: (T, 68, 2) iBUG-68 landmarks in those frames' pixels (e.g. a prepared clip's ``crop_landmarks``).
        size: (height, width) of the output.
        smooth: Temporal smoothing sigma, frames.

    Returns:
        (T, height, width) uint8 grey crops.
    """
    f = np.asarray(frames)
    lm = np.asarray(landmarks, dtype=np.float64)
    if f.ndim != 4 or f.shape[-1] != 3 or lm.shape != (f.shape[0], 68, 2):
        raise ValueError(f"need (T, H, W, 3) frames and (T, 68, 2) landmarks, got {f.shape} and {lm.shape}")
    centre = _smooth(lm[:, 48:68].mean(axis=1), smooth)
    left, right = lm[:, 36:42].mean(axis=1), lm[:, 42:48].mean(axis=1)
    eye = right - left
    iod = _smooth(np.linalg.norm(eye, axis=1), smooth * 2)
    angle = _smooth(np.arctan2(eye[:, 1], eye[:, 0]), smooth * 2)
    h, w = size
    out = np.empty((f.shape[0], h, w), np.uint8)
    for t in range(f.shape[0]):
        scale = w / max(_CROP_WIDTH_IOD * iod[t], 1e-3)  # output px per input px
        c, s = math.cos(angle[t]) * scale, math.sin(angle[t]) * scale
        # rotate by -angle about the mouth centre, scale, move the centre to the output centre
        m = np.array([[c, s, 0.0], [-s, c, 0.0]])
        m[:, 2] = np.array([w / 2, h / 2]) - m[:, :2] @ centre[t]
        grey = cv2.cvtColor(np.ascontiguousarray(f[t]), cv2.COLOR_RGB2GRAY)
        out[t] = cv2.warpAffine(grey, m, (w, h), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
    return out


# --------------------------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------------------------


@dataclass
class LipReaderConfig:
    """Architecture of :class:`LipReadNet`.

    Attributes:
        channels: channels of the three conv stages.
        feature_dim: per-frame feature size after the conv front-end.
        hidden: GRU hidden size per direction.
        dropout: dropout before the GRU and the heads.
        time_stride: temporal stride of the first (3-D) conv: 2 = the GRU runs at half the frame
            rate (the 5-frame 3-D kernel still sees every frame), half the cost.
    """

    channels: tuple[int, int, int] = (16, 32, 64)
    feature_dim: int = 192
    hidden: int = 128
    dropout: float = 0.3
    time_stride: int = 2


class LipReadNet(nn.Module):
    """Mouth-crop sequence -> logits of the six GRID slots.

    Front-end: a 3-D conv (5 frames x 5 x 5, stride 2 in space and ``time_stride`` in time) over
    the grey crop and two per-frame 2-D conv stages, a linear map to ``feature_dim``; then a 1-D temporal conv, a
    bidirectional GRU and per slot an attention pooling over time and a linear classifier.
    Input (B, T, 32, 64) float, normalised per clip (:meth:`normalize`).
    """

    def __init__(self, config: LipReaderConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or LipReaderConfig()
        c1, c2, c3 = cfg.channels
        self.conv1 = nn.Sequential(nn.Conv3d(1, c1, (5, 5, 5), stride=(cfg.time_stride, 2, 2), padding=(2, 2, 2),
                                             bias=False),
                                   nn.BatchNorm3d(c1), nn.ReLU(inplace=True))  # -> 16 x 32
        self.conv2 = nn.Sequential(nn.Conv2d(c1, c2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c2),
                                   nn.ReLU(inplace=True),  # -> 8 x 16
                                   nn.Conv2d(c2, c3, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c3),
                                   nn.ReLU(inplace=True))  # -> 4 x 8
        h, w = INPUT_SIZE
        self.project = nn.Linear(c3 * (h // 8) * (w // 8), cfg.feature_dim)
        self.temporal = nn.Sequential(nn.Conv1d(cfg.feature_dim, cfg.feature_dim, 3, padding=1),
                                      nn.BatchNorm1d(cfg.feature_dim), nn.ReLU(inplace=True))
        self.drop = nn.Dropout(cfg.dropout)
        self.gru = nn.GRU(cfg.feature_dim, cfg.hidden, batch_first=True, bidirectional=True)
        self.attention = nn.Linear(2 * cfg.hidden, len(SLOTS))
        self.heads = nn.ModuleList([nn.Linear(2 * cfg.hidden, len(VOCAB[s])) for s in SLOTS])

    @staticmethod
    def normalize(mouths: torch.Tensor) -> torch.Tensor:
        """(B, T, H, W) grey values (0-255) -> zero mean, unit std per clip."""
        x = mouths.float()
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True).clamp_min(1.0)
        return (x - mean) / std

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, H, W) normalised crops -> (B, T / time_stride, 2 * hidden) GRU outputs."""
        b = x.shape[0]
        y = self.conv1(x[:, None])  # B, C, T / time_stride, h, w
        t = y.shape[2]
        y = y.transpose(1, 2).reshape(b * t, *y.shape[1:2], *y.shape[3:])
        y = self.conv2(y).reshape(b, t, -1)
        y = F.relu(self.project(self.drop(y)))
        y = self.temporal(y.transpose(1, 2)).transpose(1, 2)
        out, _ = self.gru(self.drop(y))
        return out

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, T, H, W) normalised crops -> per slot (B, |vocab|) logits."""
        h = self.features(x)
        weights = torch.softmax(self.attention(h), dim=1)  # B, T, slots
        pooled = torch.einsum("bts,btd->bsd", weights, h)
        pooled = self.drop(pooled)
        return [head(pooled[:, i]) for i, head in enumerate(self.heads)]


def central_view(cached: torch.Tensor) -> torch.Tensor:
    """(B, T, 40, 80) cached crops -> (B, T, 32, 64): the central 1/1.25 (the reader's input at inference)."""
    b, t, h, w = cached.shape
    oh, ow = INPUT_SIZE
    y = cached.reshape(b * t, 1, h, w).float()
    theta = torch.tensor([[1 / _MARGIN, 0, 0], [0, 1 / _MARGIN, 0]], dtype=y.dtype).expand(b * t, 2, 3)
    grid = F.affine_grid(theta, [b * t, 1, oh, ow], align_corners=False)
    return F.grid_sample(y, grid, mode="bilinear", padding_mode="border", align_corners=False).reshape(b, t, oh, ow)


# --------------------------------------------------------------------------------------------
# Files and inference
# --------------------------------------------------------------------------------------------


def default_lipreader_path() -> Path:
    """Path of the bundled reader ``talkface/assets/lipreader.pt``."""
    return Path(str(resources.files("talkface").joinpath("assets", "lipreader.pt")))


def export_lipreader(model: LipReadNet, dest: PathLike, meta: dict[str, Any] | None = None) -> Path:
    """Write an inference file: fp16 weights, the config and ``meta`` (training facts), atomically."""
    return save_inference_file(model, "talkface-lipreader", dest, meta)


def load_lipreader(path: PathLike | None = None, device: str | torch.device = "cpu") -> LipReadNet:
    """Load a reader written by :func:`export_lipreader` (default: the bundled one), eval mode, fp32.

    Raises:
        InputError: the file is missing or not a talkface lip reader.
    """
    p = path if path is not None else default_lipreader_path()
    return load_inference_file(p, "talkface-lipreader", "lip reader", LipReaderConfig, LipReadNet, device)


@dataclass
class Reading:
    """What the reader read in one clip.

    Attributes:
        words: the six predicted words.
        probabilities: (6,) probability of each predicted word.
    """

    words: tuple[str, ...]
    probabilities: np.ndarray

    def score(self, reference: tuple[str, ...]) -> dict[str, float]:
        """``{"wer": ..., "acc_<slot>": ...}`` against the true sentence (fractions in [0, 1])."""
        out = {"wer": word_error_rate(reference, self.words)}
        out.update({f"acc_{k}": v for k, v in slot_accuracy(reference, self.words).items()})
        return out


class LipReader:
    """Reads GRID sentences off mouth crops with a trained :class:`LipReadNet`.

    Args:
        path: Reader file (default the bundled ``assets/lipreader.pt``), or None.
        device: Torch device.
        model: An already loaded network (``path`` is then ignored).
    """

    def __init__(self, path: PathLike | None = None, device: str = "cpu", model: LipReadNet | None = None) -> None:
        self.model = model if model is not None else load_lipreader(path, device)
        self.device = device

    @torch.no_grad()
    def read_crops(self, crops: np.ndarray) -> Reading:
        """Read (T, 40, 80) uint8 cached-size mouth crops (:func:`lip_crops`) of a 25 fps clip."""
        c = np.asarray(crops)
        if c.ndim != 3 or c.shape[1:] != CACHE_SIZE or c.shape[0] < 3:
            raise ValueError(f"need (T >= 3, {CACHE_SIZE[0]}, {CACHE_SIZE[1]}) mouth crops, got {c.shape}")
        self.model.eval()
        x = torch.from_numpy(np.ascontiguousarray(c))[None].to(self.device)
        logits = self.model(self.model.normalize(central_view(x)))
        words, probs = [], []
        for slot, lg in zip(SLOTS, logits, strict=True):
            p = torch.softmax(lg[0].float(), dim=0)
            i = int(p.argmax())
            words.append(VOCAB[slot][i])
            probs.append(float(p[i]))
        return Reading(tuple(words), np.asarray(probs, np.float32))

    def read(self, frames: np.ndarray, landmarks: np.ndarray, fps: float = 25.0, align: bool = False) -> Reading:
        """Read a face video: (T, H, W, 3) uint8 RGB frames and their (T, 68, 2) landmarks.

        ``align=True`` first cuts the aligned 128 px face crops of ``talkface preprocess`` out of
        full video frames (what the reader was trained on); ``talkface evaluate`` scores frames that
        are such crops already. Videos at another frame rate are resampled to 25 fps (nearest
        frame), the rate of GRID.
        """
        if align:
            affines = crop_transforms(np.asarray(landmarks, dtype=np.float64), 128, smooth=True)
            frames = np.stack([warp_crop(f, a, 128) for f, a in zip(frames, affines, strict=True)])
            landmarks = np.stack([transform_points(p, a) for p, a in zip(landmarks, affines, strict=True)])
        crops = lip_crops(frames, landmarks)
        if abs(fps - 25.0) > 1e-3:
            count = max(1, int(math.floor(crops.shape[0] * 25.0 / fps + 1e-9)))
            crops = crops[np.minimum(np.round(np.arange(count) * fps / 25.0).astype(np.int64), crops.shape[0] - 1)]
        return self.read_crops(crops)
