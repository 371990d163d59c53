"""Late fusion of motion models: a weighted mean of several G_L on slices of one speech feature.

Each member is a trained l-GAN / regression G_L (:class:`~talkface.motion.lgan_net.LGANNet`) that reads
its own slice of a concatenated feature (e.g. the ``whisper-tiny.en+hama`` mix of
:class:`talkface.audio.mix.ConcatFeatures`: columns 0–383 Whisper tiny.en, 384–574 hama). The ensemble
predicts the weighted mean of the members' canonical landmarks, i.e. (the members share the canonical
neutral face of the same training data) the weighted mean of their landmark displacements. It has the
inference interface of :class:`~talkface.motion.lgan_net.LGANInference` (``config``,
``canonical_neutral``, ``predict_canonical``), so everything that takes a motion model takes it.

An ensemble file is written by this module's command line and read by :func:`load_ensemble`
(:func:`talkface.models.load_lgan_net` recognises it, so ``--lgan ens.pt`` and a bundle's ``lgan``
entry can name one)::

    python -m talkface.motion.ensemble runs/tiny/best.ckpt runs/hama/best.ckpt --weight 0.5 -o ens.pt
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from talkface.errors import InputError
from talkface.io.atomic import save_torch
from talkface.io.checkpoint import dataclass_from_dict, load_network
from talkface.motion.lgan_net import LGANConfig, LGANInference, LGANNet

__all__ = ["ENSEMBLE_FORMAT", "LGANEnsemble", "is_ensemble_file", "load_ensemble", "make_ensemble", "save_ensemble"]

ENSEMBLE_FORMAT = "talkface-lgan-ensemble"

PathLike = str | os.PathLike[str]


class LGANEnsemble(LGANInference):
    """Weighted mean of several G_L, each on its own columns of one concatenated speech feature.

    Args:
        members: the trained motion models (same fps, window Δt and window alignment).
        slices: per member, the ``(start, stop)`` columns of the ensemble's feature it reads; their
            widths must equal the members' ``feature_dim``.
        weights: per member, its weight (non-negative, normalised to sum 1).
        feature_name: name of the concatenated feature extractor
            (:func:`talkface.audio.features.get_extractor`), e.g. ``"whisper-tiny.en+hama"``.

    Raises:
        ValueError: members that do not fit together, or bad slices/weights.
    """

    members: nn.ModuleList
    weights: torch.Tensor

    def __init__(self, members: Sequence[LGANNet], slices: Sequence[tuple[int, int]], weights: Sequence[float],
                 feature_name: str) -> None:
        super().__init__()
        if not members or len(members) != len(slices) or len(members) != len(weights):
            raise ValueError("an ensemble needs one slice and one weight per member")
        first = members[0].config
        for m, (start, stop) in zip(members, slices, strict=True):
            c = m.config
            if (c.fps, c.window, c.window_align) != (first.fps, first.window, first.window_align):
                raise ValueError("ensemble members must share fps, window and window alignment")
            if not 0 <= start < stop or stop - start != c.feature_dim:
                raise ValueError(f"slice {start}:{stop} does not fit a member with {c.feature_dim}-d features")
        w = torch.tensor([float(x) for x in weights])
        if not torch.isfinite(w).all() or (w < 0).any() or float(w.sum()) <= 0:
            raise ValueError(f"ensemble weights must be non-negative with a positive sum, got {list(weights)}")
        w = w / w.sum()
        self.members = nn.ModuleList(members)
        self.slices = [(int(a), int(b)) for a, b in slices]
        self.feature_name = feature_name
        dim = max(b for _, b in self.slices)
        self.config = dataclasses.replace(first, feature_name=feature_name, feature_dim=dim)
        self.register_buffer("weights", w)
        neutral = sum(float(wi) * m.canonical_neutral for wi, m in zip(w, members, strict=True))
        self.register_buffer("canonical_neutral", torch.as_tensor(neutral).clone())

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """Weighted mean of the members' canonical landmarks.

        Args:
            windows: (..., Δt, D) windows of the concatenated feature.

        Returns:
            (..., 68, 2) canonical landmarks.
        """
        out = torch.zeros(*windows.shape[:-2], 68, 2, dtype=windows.dtype, device=windows.device)
        for wi, m, (a, b) in zip(self.weights, self.nets(), self.slices, strict=True):
            out = out + wi * m(windows[..., a:b])
        return out

    def predict_canonical_paused(self, features: np.ndarray, speech: np.ndarray) -> np.ndarray:
        """Canonical landmarks with the first member alone in pauses.

        A G_L on phone posteriors (hama) keeps the lips ajar in pauses and after the speech (its
        opening rests at ~0.07 of the eye distance where Whisper tiny.en's rests at ~0.03,
        docs/motion.md 5c): where ``speech`` is 0 the weights move to the first member, so a pause
        looks as it did with the first member alone; where it is 1 they are the ensemble's.

        Args:
            features: (T, D) float32 per-frame speech features (the ensemble's concatenated feature).
            speech: (T,) speech presence in [0, 1] (:func:`talkface.motion.amplitude.speech_presence`).

        Returns:
            (T, 68, 2) float32 canonical landmarks.
        """
        feats = np.asarray(features, dtype=np.float32)
        if feats.ndim != 2 or feats.shape[1] != self.config.feature_dim:
            raise ValueError(f"features must be (T, {self.config.feature_dim}), got {feats.shape}")
        s = np.clip(np.asarray(speech, dtype=np.float32), 0.0, 1.0)
        if s.shape != (len(feats),):
            raise ValueError(f"speech must be ({len(feats)},), got {s.shape}")
        w = self.weights.cpu().numpy().astype(np.float32)
        pause = np.zeros_like(w)
        pause[0] = 1.0
        weights = s[:, None] * w[None] + (1 - s[:, None]) * pause[None]  # (T, members), rows sum to 1
        out = np.zeros((len(feats), 68, 2), np.float32)
        for k, (m, (a, b)) in enumerate(zip(self.nets(), self.slices, strict=True)):
            out += weights[:, k, None, None] * m.predict_canonical(feats[:, a:b])
        return out

    def nets(self) -> list[LGANNet]:
        """The member models."""
        return [cast(LGANNet, m) for m in self.members]

    def describe(self) -> dict[str, Any]:
        """What the ensemble is made of (member feature names, slices, weights), for model cards."""
        return {"feature_name": self.feature_name,
                "members": [{"feature_name": m.config.feature_name, "slice": list(s), "weight": float(w)}
                            for m, s, w in zip(self.nets(), self.slices, self.weights, strict=True)]}


def _load_member(path: PathLike) -> LGANNet:
    net = load_network(path, ("talkface.motion.lgan:LGAN",), LGANConfig, LGANNet, "an l-GAN")
    if net is None:
        raise InputError(path, "not an l-GAN / regression checkpoint or export")
    return net


def make_ensemble(paths: Sequence[PathLike], weights: Sequence[float], feature_name: str | None = None,
                  slices: Sequence[tuple[int, int]] | None = None) -> LGANEnsemble:
    """An ensemble of trained motion models (checkpoints or bundle exports).

    Args:
        paths: the members' ``.ckpt`` / ``lgan.pt`` files.
        weights: their weights.
        feature_name: the concatenated feature (default: the members' feature names joined by ``+``).
        slices: their columns (default: consecutive blocks in member order).

    Raises:
        InputError: a file that is not a motion model.
        ValueError: members, slices or weights that do not fit.
    """
    members = [_load_member(p) for p in paths]
    if slices is None:
        starts = [0]
        for m in members:
            starts.append(starts[-1] + m.config.feature_dim)
        slices = list(zip(starts[:-1], starts[1:], strict=True))
    name = feature_name or "+".join(m.config.feature_name for m in members)
    return LGANEnsemble(members, slices, weights, name).eval()


def save_ensemble(ensemble: LGANEnsemble, dest: PathLike, *, half: bool = True,
                  meta: dict[str, Any] | None = None) -> Path:
    """Write an ensemble file (members' configs and weights, fp16 by default), atomically.

    As in a bundle export, only learned weights are stored in fp16; buffers (feature statistics, the
    neutral face) keep their precision.
    """

    def state(m: nn.Module) -> dict[str, torch.Tensor]:
        params = {name for name, _ in m.named_parameters()}
        return {k: (v.detach().cpu().half() if half and k in params and v.is_floating_point() else v.detach().cpu())
                for k, v in m.state_dict().items()}

    members = [{"config": dataclasses.asdict(m.config), "state_dict": state(m), "slice": list(s)}
               for m, s in zip(ensemble.nets(), ensemble.slices, strict=True)]
    payload = {"format": ENSEMBLE_FORMAT, "version": 1, "feature_name": ensemble.feature_name,
               "weights": [float(w) for w in ensemble.weights], "members": members, "meta": dict(meta or {})}
    return save_torch(payload, dest)


def _read(path: PathLike, map_location: str | torch.device = "cpu") -> Any:
    try:
        return torch.load(Path(path), map_location=map_location, weights_only=True)
    except Exception:  # noqa: BLE001 - any unpickling failure: not an ensemble file
        return None


def is_ensemble_file(path: PathLike) -> bool:
    """True when ``path`` is an ensemble file of :func:`save_ensemble`."""
    p = Path(path)
    if not p.is_file():
        return False
    payload = _read(p)
    return isinstance(payload, dict) and payload.get("format") == ENSEMBLE_FORMAT


def load_ensemble(path: PathLike, map_location: str | torch.device = "cpu") -> LGANEnsemble:
    """Load an ensemble file (fp32, eval mode).

    Raises:
        InputError: missing, unreadable or not an ensemble file.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "motion model not found")
    payload = _read(p, map_location)
    if not isinstance(payload, dict) or payload.get("format") != ENSEMBLE_FORMAT:
        raise InputError(p, "not a talkface motion ensemble")
    try:
        members = []
        for entry in payload["members"]:
            net = LGANNet(dataclass_from_dict(LGANConfig, entry["config"]))
            net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in entry["state_dict"].items()})
            members.append(net)
        slices = [(int(e["slice"][0]), int(e["slice"][1])) for e in payload["members"]]
        ens = LGANEnsemble(members, slices, payload["weights"], str(payload["feature_name"]))
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise InputError(p, f"broken motion ensemble ({exc.__class__.__name__}: {exc})") from exc
    return ens.to(map_location).eval()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m talkface.motion.ensemble A.ckpt B.ckpt --weight w -o ens.pt``."""
    ap = argparse.ArgumentParser(
        prog="python -m talkface.motion.ensemble",
        description="Write a motion-model ensemble: the weighted mean of several trained G_L, each reading its "
                    "own block of a concatenated speech feature (default: the members' features joined by '+', "
                    "in member order, e.g. whisper-tiny.en+hama). Use the file with --lgan or in a bundle.")
    ap.add_argument("models", nargs="+", help="members: l-GAN/regression checkpoints or lgan.pt exports")
    ap.add_argument("--weight", type=float, default=None,
                    help="two members: weight of the second (the first gets 1 - weight); default 0.5")
    ap.add_argument("--weights", type=float, nargs="+", default=None, help="one weight per member (normalised)")
    ap.add_argument("--feature", default=None, help="name of the concatenated feature (default: joined names)")
    ap.add_argument("--fp32", action="store_true", help="store fp32 weights (default fp16)")
    ap.add_argument("-o", "--output", required=True, help="ensemble file to write (.pt)")
    args = ap.parse_args(argv)
    if args.weights is not None and args.weight is not None:
        ap.error("give --weight or --weights, not both")
    if args.weights is not None:
        weights = list(args.weights)
    elif len(args.models) == 2:
        w = 0.5 if args.weight is None else args.weight
        weights = [1.0 - w, w]
    elif args.weight is None:
        weights = [1.0] * len(args.models)
    else:
        ap.error("--weight needs exactly two models; use --weights")
    try:
        ens = make_ensemble(args.models, weights, args.feature)
        save_ensemble(ens, args.output, half=not args.fp32, meta={"members": [os.fspath(m) for m in args.models]})
    except (InputError, ValueError) as exc:
        print(f"error: {exc}")
        return 2
    d = ens.describe()
    print(f"{args.output}: {d['feature_name']} ({ens.config.feature_dim}-d), " + ", ".join(
        f"{m['feature_name']}[{m['slice'][0]}:{m['slice'][1]}] x {m['weight']:.3f}" for m in d["members"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
