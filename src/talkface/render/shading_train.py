"""Training of the lower-face shading network (:mod:`talkface.render.shading`) on a prepared dataset.

Data (:func:`prepare_shading_data`): for each clip the first aligned crop is the photo; the native
renderer (:class:`talkface.render.compose.NativeRenderer`, the one ``animate`` uses, default settings)
warps it to a few frames' tracked crop landmarks; the target is the *log luminance ratio* of the real
frame to that render, both cut into the frame's aligned crop at ``out_size``² (a low-pass: one value
per 4 crop pixels), so only the smooth shading change that the warp does not make remains. Inputs are
:func:`talkface.render.shading.shading_inputs` of the render, exactly as at inference.

Training (:func:`train_shading`): :class:`ShadingModule` (mask-weighted squared error of the log gain,
random brightness and contrast of the input crop, so the prediction does not depend on GRID s1's own
skin tone) through the one training core (:func:`talkface.train.core.fit`: seed, ``config.json``
beside the checkpoints, resume from ``last.ckpt``); the plain network is exported with
:func:`talkface.render.shading.export_shading`.

Run (GRID s1 only for the shipped weights)::

    nice -n 10 python3 -m talkface.render.shading_train prepare --data /work/prepared/grid_s1_all \\
        --split train --out S/train.npz --clips 400 --frames 20
    python3 -m talkface.render.shading_train train --train S/train.npz --val S/val.npz --out S/run --steps 6000
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import lightning as L
import numpy as np
import torch
from tqdm import tqdm

from talkface.data.dataset import PreparedDataset, load_clip
from talkface.face.align import crop_transform, transform_points, warp_crop
from talkface.io.atomic import atomic_path
from talkface.nets.shading import ShadingNet, ShadingNetConfig
from talkface.render.compose import NativeRenderer, RenderConfig
from talkface.render.shading import export_shading, lower_face_mask, shading_inputs
from talkface.train.core import TalkfaceModule, TrainConfig, fit

__all__ = ["ShadingDataConfig", "ShadingModule", "prepare_shading_data", "shading_target", "train_shading"]

#: grey-level offset of the log ratio (dark pixels do not blow it up)
_EPS = 8.0


@dataclass
class ShadingDataConfig:
    """What :func:`prepare_shading_data` takes from each clip.

    Attributes:
        clips: clips of the split (0: all), taken in a seeded random order.
        frames: frames per clip (evenly spread over the clip after the first).
        in_size, out_size: input crop and target grid sides (as the network's config).
        seed: clip order.
    """

    clips: int = 400
    frames: int = 20
    in_size: int = 64
    out_size: int = 32
    seed: int = 0


def shading_target(real: np.ndarray, rendered: np.ndarray, affine: np.ndarray, size: int) -> np.ndarray:
    """Log luminance ratio real / rendered on the ``size``² aligned crop ((size, size) float32).

    Args:
        real, rendered: (H, W, 3) uint8 frames (same landmarks: the render's request is the real frame's track).
        affine: (2, 3) frame pixels -> ``size``² crop pixels.
        size: target grid side (a strong downscale: :func:`talkface.face.align.warp_crop` pre-filters).
    """
    yr = cv2.cvtColor(warp_crop(real, affine, size), cv2.COLOR_RGB2GRAY).astype(np.float32)
    yw = cv2.cvtColor(warp_crop(rendered, affine, size), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return np.log(yr + _EPS) - np.log(yw + _EPS)


def prepare_shading_data(root: str | os.PathLike[str], split: str, out: str | os.PathLike[str],
                         config: ShadingDataConfig | None = None) -> Path:
    """Render the training pairs of one split into ``out`` (.npz: ``x``, ``y``, ``mask``, ``clip``).

    ``x``: (N, 4, in, in) float16 network inputs; ``y``: (N, out, out) float16 log gain targets;
    ``mask``: (N, out, out) float16 lower-face masks (the loss weight); ``clip``: (N,) clip index.
    """
    cfg = config or ShadingDataConfig()
    ds = PreparedDataset(root)
    ids = ds.ids(split)
    rng = np.random.default_rng(cfg.seed)
    ids = [ids[i] for i in rng.permutation(len(ids))]
    if cfg.clips:
        ids = ids[: cfg.clips]
    xs, ys, ms, cs = [], [], [], []
    for k, cid in enumerate(tqdm(ids, desc=f"shading data ({split})")):
        clip = load_clip(ds.clip_path(cid))
        crops = clip.crops()
        lms = clip.crop_landmarks.astype(np.float64)
        n = min(len(crops), len(lms))
        if n < 3:
            continue
        photo, photo_lm = crops[0], lms[0]
        renderer = NativeRenderer(photo, photo_lm, lms[:n], RenderConfig())
        photo_c = transform_points(photo_lm, crop_transform(photo_lm, cfg.in_size)).astype(np.float64)
        for t in np.unique(np.linspace(1, n - 1, cfg.frames).round().astype(int)):
            rendered = renderer(lms[t])
            a_in = crop_transform(lms[t], cfg.in_size)
            grey = cv2.cvtColor(warp_crop(rendered, a_in, cfg.in_size), cv2.COLOR_RGB2GRAY)
            xs.append(shading_inputs(grey, transform_points(lms[t], a_in).astype(np.float64), photo_c))
            a_out = crop_transform(lms[t], cfg.out_size)
            ys.append(shading_target(crops[t], rendered, a_out, cfg.out_size))
            ms.append(lower_face_mask(transform_points(lms[t], a_out), cfg.out_size))
            cs.append(k)
    dest = Path(out)
    with atomic_path(dest) as tmp:  # an interrupted run leaves no half-written data file
        np.savez(tmp, x=np.stack(xs).astype(np.float16), y=np.stack(ys).astype(np.float16),
                 mask=np.stack(ms).astype(np.float16), clip=np.asarray(cs, np.int32), ids=np.asarray(ids))
    return dest


class ShadingModule(TalkfaceModule):
    """Lightning wrapper of :class:`ShadingNet`: mask-weighted MSE of the log gain.

    Args:
        config: a :class:`ShadingNetConfig` (or its dict form), None for the defaults.
    """

    config_class = ShadingNetConfig
    best_metric = ("val/loss", "min")

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.net = ShadingNet(self.config)

    @staticmethod
    def _loss(pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return ((pred[:, 0] - y) ** 2 * mask).sum() / mask.sum().clamp_min(1.0)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        x, y, mask = (b.float() for b in batch)
        # brightness and contrast of the input crop: the target is a ratio, it does not change
        b = x.shape[0]
        gain = torch.exp(torch.empty(b, 1, 1, device=x.device).uniform_(-0.6, 0.3))
        gamma = torch.exp(torch.empty(b, 1, 1, device=x.device).uniform_(-0.3, 0.3))
        x = x.clone()
        x[:, 0] = ((x[:, 0] + 0.5).clamp(0, 1) ** gamma * gain).clamp(0, 1) - 0.5
        flip = torch.rand(b, device=x.device) < 0.5  # a mirrored face: x displacement changes sign
        x[flip] = x[flip].flip(-1)
        x[flip, 1] = -x[flip, 1]
        y = torch.where(flip[:, None, None], y.flip(-1), y)
        mask = torch.where(flip[:, None, None], mask.flip(-1), mask)
        loss = self._loss(self.net(x), y, mask)
        self.log_losses({"loss": loss})
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        x, y, mask = (b.float() for b in batch)
        loss = self._loss(self.net(x), y, mask)
        zero = self._loss(torch.zeros_like(y)[:, None], y, mask)
        self.log_losses({"loss": loss, "explained": 1.0 - loss / zero.clamp_min(1e-9)}, prefix="val")

    def configure_optimizers(self) -> Any:
        """Adam with a cosine decay of the learning rate to 5 % over the run."""
        optimizer = torch.optim.Adam(self.parameters(), lr=self.lr)
        total = max(1, int(self.trainer.max_steps) if self._trainer is not None else 1)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total)))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class _ShadingData(L.LightningDataModule):
    """Batches from the arrays of :func:`prepare_shading_data`."""

    def __init__(self, train: Path, val: Path | None, batch_size: int, seed: int) -> None:
        super().__init__()
        self.train, self.val, self.batch_size, self.seed = train, val, batch_size, seed

    @staticmethod
    def _tensors(path: Path) -> torch.utils.data.TensorDataset:
        with np.load(path) as z:
            return torch.utils.data.TensorDataset(torch.from_numpy(z["x"]), torch.from_numpy(z["y"]),
                                                  torch.from_numpy(z["mask"]))

    def train_dataloader(self) -> Any:
        g = torch.Generator().manual_seed(self.seed)
        return torch.utils.data.DataLoader(self._tensors(self.train), batch_size=self.batch_size, shuffle=True,
                                           generator=g, drop_last=True)

    def val_dataloader(self) -> Any:
        if self.val is None:
            return []
        return torch.utils.data.DataLoader(self._tensors(self.val), batch_size=256)


def train_shading(train: str | os.PathLike[str], out: str | os.PathLike[str], *,
                  val: str | os.PathLike[str] | None = None, train_config: TrainConfig | None = None,
                  config: ShadingNetConfig | None = None,
                  export_to: str | os.PathLike[str] | None = None) -> Path:
    """Train :class:`ShadingNet` on prepared arrays and export it (``out/shading.pt`` by default).

    Args:
        train, val: ``.npz`` files of :func:`prepare_shading_data`.
        out: run folder (checkpoints, ``config.json``, ``metrics.csv``); an interrupted run resumes.
        train_config: default 6000 batches of 64, lr 2e-3, CPU, 1 thread, validation every 500.
        config: network shape.
        export_to: the inference file.

    Returns:
        The exported file.
    """
    tc = train_config or TrainConfig(max_steps=6000, batch_size=64, lr=2e-3, accelerator="cpu", devices=1,
                                     num_threads=1, log_every_n_steps=50, checkpoint_every_n_steps=500,
                                     val_every_n_steps=500 if val is not None else None)
    module = ShadingModule(config or ShadingNetConfig())
    data = _ShadingData(Path(train), Path(val) if val is not None else None, tc.batch_size, tc.seed)
    fit(module, data, out, tc, extra_configs={"data": {"train": os.fspath(train),
                                                      "val": os.fspath(val) if val is not None else None}})
    best = Path(out) / "best.ckpt"
    if best.is_file():  # the best validation loss, not the last step
        state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
        module.load_state_dict(state)
    net = module.net.cpu().eval()
    dest = Path(export_to) if export_to is not None else Path(out) / "shading.pt"
    return export_shading(net, dest, {"train": os.fspath(train), "steps": tc.max_steps, "batch_size": tc.batch_size,
                                      "corpus": "GRID s1 (CC BY 4.0)"})


def main(argv: list[str] | None = None) -> None:
    """``prepare`` the arrays of a split, or ``train`` on them."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("prepare", help="render the training pairs of one split")
    pp.add_argument("--data", required=True, help="prepared dataset (GRID s1 for the shipped weights)")
    pp.add_argument("--split", default="train")
    pp.add_argument("--out", required=True, help=".npz to write")
    pp.add_argument("--clips", type=int, default=400, help="clips of the split (0: all)")
    pp.add_argument("--frames", type=int, default=20, help="frames per clip")
    pt = sub.add_parser("train", help="train and export")
    pt.add_argument("--train", required=True)
    pt.add_argument("--val", default=None)
    pt.add_argument("--out", required=True, help="run folder (resumes)")
    pt.add_argument("--steps", type=int, default=6000)
    pt.add_argument("--batch-size", type=int, default=64)
    pt.add_argument("--lr", type=float, default=2e-3)
    pt.add_argument("--seed", type=int, default=0)
    pt.add_argument("--threads", type=int, default=1)
    pt.add_argument("--max-minutes", type=float, default=None)
    pt.add_argument("--export", default=None, help="inference file (default OUT/shading.pt)")
    pt.add_argument("--no-image", action="store_true", help="condition on the geometry only (not the crop)")
    args = p.parse_args(argv)
    if args.cmd == "prepare":
        torch.set_num_threads(1)
        print(prepare_shading_data(args.data, args.split, args.out,
                                   ShadingDataConfig(clips=args.clips, frames=args.frames)))
        return
    tc = TrainConfig(max_steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed, accelerator="cpu",
                     devices=1, num_threads=args.threads, log_every_n_steps=50, checkpoint_every_n_steps=500,
                     val_every_n_steps=500 if args.val else None, max_minutes=args.max_minutes)
    print(train_shading(args.train, args.out, val=args.val, train_config=tc, export_to=args.export,
                        config=ShadingNetConfig(image=not args.no_image)))


if __name__ == "__main__":
    # run as the module's own name (not ``__main__``), so checkpoints record an importable class
    from talkface.render import shading_train  # lazy: the same module, imported under its package name

    shading_train.main()
