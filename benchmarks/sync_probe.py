"""Why does the sync model score one renderer above another? LSE-C under controlled changes (issue 14).

Reads the frames that ``benchmarks/render_quality.py --save DIR`` kept (per clip: the real frames and
their dlib track, each variant's frames, dlib track and requested landmarks, the speech) and scores
every variant's mouths with talkface's sync model (:class:`talkface.eval.sync.SyncScorer`) several
ways, each changing one thing:

* ``tracked``: mouth crops from the variant's own dlib track (what ``render_quality`` reports);
* ``req``: mouth crops from the *requested* landmarks instead (no dlib tracking jitter; the real row
  keeps its track);
* ``res128``: the frame's face first cut to the crop renderer's 128² face crop (the photo's
  :func:`talkface.face.align.crop_transform`) and scaled back (``paste_back``): the crop renderer's
  resolution, nothing else;
* ``mpeg1``: the frames through an MPEG-1 encoder like GRID's (1 Mb/s, a GOP of 12, no B-frames) and
  back, scored with the same track (do coding artefacts that follow the motion count?);
* ``blur1`` / ``blur2``: the 48×96 grey mouth crops blurred (Gaussian, sigma 1 / 2 px);
* ``sharpen``: the mouth crops unsharp-masked (amount 1, sigma 1.5 px);
* ``mouth<-B`` / ``rest<-B`` (``--swap A B``: both rendered from the same request, so their ``req``
  crops are pixel-aligned): A's ``req`` crops with B's pixels inside the outer lips (soft mask,
  grown by 0.15 of the mouth width), or everywhere else; ``rest<-B[0]`` / ``rest<-A[0]``: outside the
  lips B's / A's own *first* crop (a look without motion); ``rest blurred``: outside the lips A's
  crops blurred (sigma 2 px); ``rest shading<-B``: outside the lips A's crops times B's change of
  low-frequency brightness since its first frame (Gaussian, sigma 3 px): B's shading, A's geometry;

and the mouth crops' temporal pixel change (``motion``: mean absolute difference of consecutive
crops after the sync model's own per-frame normalisation, inside the outer-lip mask, and outside it:
``motion_out``). ``--tile PNG`` writes the sync model's mouth crops of a few frames (the widest
requested openings of the first clip or ``--tile-clip``), one row per variant, for looking.

Usage::

    python3 benchmarks/render_quality.py --data /work/prepared/grid7 --out OUT --save OUT/save \\
        --variants real still crop@0 native@0 native:oracle@0 crop:oracle@0
    python3 benchmarks/sync_probe.py --saved OUT/save --out OUT/probe --swap native@0 crop@0 \\
        --variants real crop@0 native@0 native:oracle@0 crop:oracle@0 --tile OUT/probe/mouths.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

SIZE = (48, 96)
#: Clip left out when the unseen speakers are meant (GRID s1's own clip).
SEEN = "bbaf2n"


def _affines(lm: np.ndarray) -> np.ndarray:
    from talkface.face.align import crop_transforms

    return crop_transforms(lm, 128, smooth=True)


def crops(frames: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """The sync model's grey 48×96 mouth crops (:func:`talkface.eval.sync.mouth_crops`)."""
    from talkface.eval.sync import mouth_crops

    return mouth_crops(frames, lm, SIZE)


def lip_masks(lm: np.ndarray) -> np.ndarray:
    """(T, 48, 96) float32 soft masks of the outer lips (grown) in the sync crops cut with ``lm``."""
    from talkface.face.align import transform_points

    aff = _affines(lm)
    out = np.zeros((len(lm), *SIZE), np.float32)
    sy, sx = SIZE[0] / 64.0, SIZE[1] / 128.0
    for t in range(len(lm)):
        p = transform_points(lm[t, 48:60], aff[t])
        p = np.stack([p[:, 0] * sx, (p[:, 1] - 64.0) * sy], 1)
        c = p.mean(0)
        width = np.ptp(p[:, 0])
        p = c + (p - c) * (1.0 + 0.3 * width / max(np.ptp(p, 0).max(), 1e-6))
        m = np.zeros((SIZE[0] * 4, SIZE[1] * 4), np.uint8)
        cv2.fillPoly(m, [np.round(p * 4).astype(np.int32)], 255, cv2.LINE_AA)
        m = cv2.resize(m, (SIZE[1], SIZE[0]), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        out[t] = cv2.GaussianBlur(m, (0, 0), 1.5)
    return out


def degrade_to_crop(frames: np.ndarray, photo_lm: np.ndarray) -> np.ndarray:
    """Each frame's face cut to the 128² crop of the crop renderer and pasted back (its resolution)."""
    from talkface.face.align import crop_transform, paste_back, warp_crop

    aff = crop_transform(photo_lm, 128)
    return np.stack([paste_back(f, warp_crop(f, aff, 128), aff) for f in frames])


def mpeg1(frames: np.ndarray, fps: float, bit_rate: int = 1_000_000) -> np.ndarray:
    """The frames through an MPEG-1 encoder like GRID's (1 Mb/s, a GOP of 12, no B-frames) and back."""
    import io

    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mpeg") as out:
        stream = out.add_stream("mpeg1video", rate=int(round(fps)))
        stream.width, stream.height = frames.shape[2] // 2 * 2, frames.shape[1] // 2 * 2
        stream.pix_fmt, stream.bit_rate = "yuv420p", bit_rate
        stream.codec_context.gop_size, stream.codec_context.max_b_frames = 12, 0
        for f in frames:
            img = np.ascontiguousarray(f[: stream.height, : stream.width])
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    buf.seek(0)
    with av.open(buf, "r", format="mpeg") as inp:
        decoded = [fr.to_ndarray(format="rgb24") for fr in inp.decode(video=0)]
    out_frames = frames.copy()
    n = min(len(decoded), len(frames))
    out_frames[:n, : stream.height, : stream.width] = np.stack(decoded[:n])
    return out_frames


def normalised(m: np.ndarray) -> np.ndarray:
    """The sync model's per-frame normalisation (:meth:`talkface.eval.sync.network.SyncNet.normalize_mouths`)."""
    x = m.astype(np.float32)
    mean = x.mean(axis=(1, 2), keepdims=True)
    std = x.std(axis=(1, 2), keepdims=True, ddof=1)
    return (x - mean) / (std + 1.0)


def motion(m: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Mean |difference| of consecutive normalised crops inside / outside the (soft) lip mask."""
    d = np.abs(np.diff(normalised(m), axis=0))
    w = 0.5 * (mask[1:] + mask[:-1])
    return float((d * w).sum() / w.sum()), float((d * (1 - w)).sum() / (1 - w).sum())


def saliency(sync: object, mouths: np.ndarray, audio: np.ndarray, fps: float) -> np.ndarray:
    """(T, 48, 96) |d LSE-C / d pixel| of grey mouth crops at 25 fps: where the sync model looks."""
    import torch

    from talkface.eval.sync.inputs import MAX_OFFSET, log_mel, resample_to_sync_fps

    net = sync.model  # type: ignore[attr-defined]
    m = mouths[resample_to_sync_fps(len(mouths), fps)]
    x = torch.tensor(m, dtype=torch.float32, requires_grad=True)
    mel = torch.from_numpy(log_mel(audio, 16000, net.config.n_mels))[None]
    with torch.no_grad():
        a = net.embed_audio(mel)[0]
    v = net.embed_video(net.normalize_mouths(x[None]))[0]
    n = min(len(v), len(a))
    k_max = min(MAX_OFFSET, (n - 1) // 2)
    starts = torch.arange(k_max, n - k_max)
    mean = torch.stack([(v[starts] - a[starts + k]).norm(dim=1).mean() for k in range(-k_max, k_max + 1)])
    (mean.median() - mean.min()).backward()
    assert x.grad is not None
    return np.abs(x.grad.numpy())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--saved", required=True, type=Path, help="render_quality.py --save folder")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--variants", nargs="+", default=["real", "crop@0", "native@0"])
    p.add_argument("--swap", nargs=2, metavar=("A", "B"), action="append", default=[],
                   help="also score A's crops with B's pixels inside the lips (mouth<-B) and outside (rest<-B)")
    p.add_argument("--tile", type=Path, default=None, help="PNG of one clip's mouth crops (the sync model's input)")
    p.add_argument("--tile-clip", default=None, help="the clip of --tile (default: the first)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--saliency", type=Path, default=None,
                   help="PNG of the sync model's mean |d LSE-C / d pixel| per variant (all clips); the share "
                        "inside the lip mask is printed")
    args = p.parse_args()

    import torch

    from talkface.eval.sync import SyncScorer

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    sync = SyncScorer()
    rows: list[dict[str, object]] = []
    tile_rows: list[np.ndarray] = []
    sal: dict[str, list[np.ndarray]] = {}
    sal_share: dict[str, list[float]] = {}
    mask_area: dict[str, list[float]] = {}
    for path in sorted(args.saved.glob("*.npz")):
        z = dict(np.load(path))
        clip = path.stem
        audio, fps, photo_lm = z["audio"], float(z["fps"]), z["photo_lm"]

        def lse(m: np.ndarray, audio: np.ndarray = audio, fps: float = fps) -> float:
            return float(sync.score(m, audio, 16000, fps).lse_c)

        req_crops: dict[str, np.ndarray] = {}
        masks: dict[str, np.ndarray] = {}
        for v in args.variants:
            frames = z["real"] if v == "real" else z[v]
            lm = z["real_lm"] if v == "real" else z[f"{v}/lm"]
            req = z["real_lm"] if v == "real" else z[f"{v}/req"]
            n = len(frames)
            tracked = crops(frames, lm)
            by_req = crops(frames, req[:n])
            req_crops[v], masks[v] = by_req, lip_masks(req[:n])
            blur = [np.stack([cv2.GaussianBlur(f, (0, 0), s) for f in tracked]) for s in (1.0, 2.0)]
            soft = np.stack([cv2.GaussianBlur(f.astype(np.float32), (0, 0), 1.5) for f in tracked])
            sharp = np.clip(tracked + 1.0 * (tracked - soft), 0, 255).astype(np.uint8)
            mo = motion(by_req, masks[v])
            if args.saliency is not None:
                g = saliency(sync, by_req, audio, fps)
                k = min(len(g), len(masks[v]))
                sal.setdefault(v, []).append(g.mean(0) / g.mean())
                sal_share.setdefault(v, []).append(float((g[:k] * masks[v][:k]).sum() / g[:k].sum()))
                mask_area.setdefault(v, []).append(float(masks[v].mean()))
            row = {"clip": clip, "variant": v, "tracked": lse(tracked), "req": lse(by_req),
                   "res128": lse(crops(degrade_to_crop(frames, photo_lm), lm)),
                   "mpeg1": lse(crops(mpeg1(frames, fps), lm)),
                   "blur1": lse(blur[0]), "blur2": lse(blur[1]), "sharpen": lse(sharp),
                   "motion": mo[0], "motion_out": mo[1]}
            rows.append(row)
            print({k: round(x, 3) if isinstance(x, float) else x for k, x in row.items()}, flush=True)
        for a, b in args.swap:
            if a not in req_crops or b not in req_crops:
                continue
            m = masks[a]
            ca, cb = req_crops[a].astype(np.float32), req_crops[b].astype(np.float32)
            blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in ca])
            mixes = {
                f"{a} mouth<-{b}": ca * (1 - m) + cb * m,
                f"{a} rest<-{b}": ca * m + cb * (1 - m),
                f"{a} rest<-{b}[0]": ca * m + cb[:1] * (1 - m),  # B's first frame: B's look, no motion
                f"{a} rest<-{a}[0]": ca * m + ca[:1] * (1 - m),  # A's own rest, frozen
                f"{a} rest blurred": ca * m + blurred * (1 - m),
            }
            # B's change of low-frequency shading since its first frame, laid on A outside the lips
            low_b = np.stack([cv2.GaussianBlur(f, (0, 0), 3.0) for f in cb]) + 1.0
            shading = np.clip(low_b / low_b[:1], 0.5, 2.0)
            mixes[f"{a} rest shading<-{b}"] = ca * m + ca * shading * (1 - m)
            for name, mix in mixes.items():
                mm = np.clip(mix, 0, 255).astype(np.uint8)
                rows.append({"clip": clip, "variant": name, "req": lse(mm)})
                print(clip, name, round(lse(mm), 3), flush=True)
        if args.tile is not None and not tile_rows and args.tile_clip in (None, clip):
            ref = z[f"{args.variants[-1]}/req"] if args.variants[-1] != "real" else z["real_lm"]
            from talkface.eval.motion_metrics import mouth_opening

            picks = sorted(int(i) for i in np.argsort(mouth_opening(ref))[::-1][:6])
            picks = sorted({*picks, *range(picks[0], min(picks[0] + 6, len(ref)))})[:10]
            for v in args.variants:
                frames = z["real"] if v == "real" else z[v]
                lm = z["real_lm"] if v == "real" else z[f"{v}/lm"]
                row = np.concatenate([crops(frames, lm)[i] for i in picks], 1)
                row = cv2.resize(row, (row.shape[1] * 2, row.shape[0] * 2), interpolation=cv2.INTER_NEAREST)
                row = cv2.cvtColor(row, cv2.COLOR_GRAY2BGR)
                cv2.putText(row, v, (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 255), 1, cv2.LINE_AA)
                tile_rows.append(row)
            args.tile.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(args.tile), np.concatenate(tile_rows, 0))
            print(f"tile: {args.tile} (clip {clip}, frames {picks})", flush=True)
    write(args.out, rows)
    if args.saliency is not None and sal:
        for v, shares in sal_share.items():
            print(f"saliency {v}: share inside the lip mask {np.mean(shares):.3f} (per clip "
                  f"{', '.join(f'{x:.2f}' for x in shares)}); the mask's share of the crop {np.mean(mask_area[v]):.3f}",
                  flush=True)
        maps = [np.mean(sal[v], 0) for v in sal]
        top = max(float(np.percentile(np.concatenate([m.ravel() for m in maps]), 99)), 1e-6)
        tiles = []
        for v, m in zip(sal, maps, strict=True):
            t = cv2.applyColorMap(np.clip(255 * m / top, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
            t = cv2.resize(t, (SIZE[1] * 3, SIZE[0] * 3), interpolation=cv2.INTER_NEAREST)
            cv2.putText(t, v, (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(t)
        cv2.imwrite(str(args.saliency), np.concatenate(tiles, 0))


def write(out: Path, rows: list[dict[str, object]]) -> None:
    keys = ["tracked", "req", "res128", "mpeg1", "blur1", "blur2", "sharpen", "motion", "motion_out"]
    names = list(dict.fromkeys(str(r["variant"]) for r in rows))
    lines = ["| variant | clips | " + " | ".join(keys) + " |", "|---" * (len(keys) + 2) + "|"]
    summary: dict[str, dict[str, str]] = {}
    for v in names:
        sel = [r for r in rows if r["variant"] == v]
        unseen = [r for r in sel if r["clip"] != SEEN]
        cells = {}
        for k in keys:
            vals = [float(r[k]) for r in sel if k in r]  # type: ignore[arg-type]
            vals_u = [float(r[k]) for r in unseen if k in r]  # type: ignore[arg-type]
            cells[k] = f"{np.mean(vals):.3f} ({np.mean(vals_u):.3f})" if vals else "-"
        summary[v] = cells
        lines.append(f"| {v} | {len(sel)} | " + " | ".join(cells[k] for k in keys) + " |")
    table = "\n".join(lines)
    print(table, flush=True)
    (out / "table.md").write_text(table + "\n")
    (out / "results.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
