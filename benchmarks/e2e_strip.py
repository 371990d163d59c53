"""PNG strip of held-out clips: real / still / two temporal-GAN generators, faces and mouth crops.

    python3 benchmarks/e2e_strip.py --old OLD_GENERATOR --new src/talkface/assets/e2e/generator.pt \\
        --data /work/prepared/grid7 --clips lbbc2a/lbbc2a,sbwe5n/sbwe5n -o strip.png

Per clip, one row per method: the 5 frames where the real mouth is widest open and the one where it
is most closed (128² crops), then the mouth regions of the same frames enlarged. Residual
generators are composed onto the full-resolution still (as ``animate-e2e``), direct ones upsampled.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from talkface.e2e.bundle import load_e2e_generator
from talkface.e2e.data import load_clips, resize_frames
from talkface.e2e.stream import compose_full_resolution, generate_batch, uses_full_resolution


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True, help="first generator (row 'old e2e')")
    ap.add_argument("--new", required=True, help="second generator (row 'new e2e')")
    ap.add_argument("--data", required=True, help="prepared dataset")
    ap.add_argument("--clips", required=True, help="comma-separated clip ids")
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    gens = {"old e2e": load_e2e_generator(args.old), "new e2e": load_e2e_generator(args.new)}
    rows = []
    for clip in load_clips(args.data, None, 128, clip_ids=args.clips.split(",")):
        still = clip.frames[clip.still_index]
        lm = clip.landmarks
        assert lm is not None
        opening = lm[:, 66, 1] - lm[:, 62, 1]
        picks = sorted(np.argsort(-opening)[:5].tolist() + [int(np.argmin(opening))])
        made = {"real": clip.frames, "still": np.broadcast_to(still, clip.frames.shape)}
        for name, g in gens.items():
            small = resize_frames(still[None], g.config.image_size)[0]
            f = generate_batch(g, small, clip.audio, num_frames=clip.num_frames, seed=0)
            made[name] = compose_full_resolution(still, f) if uses_full_resolution(g) else resize_frames(f, 128)
        cx, cy = lm[clip.still_index, 48:68].mean(0).astype(int)
        for name, frames in made.items():
            faces = [frames[i] for i in picks]
            mouths = [cv2.resize(np.ascontiguousarray(frames[i][max(cy - 20, 0) : cy + 20, max(cx - 28, 0) : cx + 28]),
                                 (112, 80), interpolation=cv2.INTER_CUBIC) for i in picks]
            row = np.concatenate([np.concatenate(faces, 1), np.zeros((128, 8, 3), np.uint8),
                                  np.pad(np.concatenate(mouths, 1), ((0, 48), (0, 0), (0, 0)))], 1)
            cv2.putText(row, name, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1)
            rows.append(row)
        rows.append(np.zeros((6, rows[-1].shape[1], 3), np.uint8))
    cv2.imwrite(args.out, np.concatenate(rows, 0)[..., ::-1])
    print(args.out)


if __name__ == "__main__":
    main()
