"""The ``talkface`` command: parses arguments and calls the package; no logic of its own.

Any problem with the user's input is printed as one line (``talkface: error: <file>: <problem>``,
or ``<--option>: <problem>``: values are checked by :mod:`talkface.config_checks` before any model
loads) with exit status 2, never as a traceback; a problem of the machine (full disk, no
permission) is one line with exit status 1.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from talkface import __version__
from talkface.config_checks import check_device, check_output_file, check_value, number_arg
from talkface.errors import InputError, TalkfaceError

if TYPE_CHECKING:
    from talkface.train.core import TrainConfig

Handler = Callable[[argparse.Namespace], int]


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected i/n (e.g. 0/4), got {text!r}") from exc
    if not (n >= 1 and 0 <= i < n):
        raise argparse.ArgumentTypeError(f"need 0 <= i < n, got {text!r}")
    return i, n


def _cmd_preprocess(args: argparse.Namespace) -> int:
    from talkface.data.dataset import PreparedDataset
    from talkface.data.preprocess import PreprocessConfig, preprocess
    from talkface.data.preview import render_preview

    config = PreprocessConfig(
        crop_size=args.crop_size,
        feature=args.feature,
        detect_every=args.detect_every,
        max_duration_s=args.max_duration,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        split_seed=args.seed,
        speaker_regex=args.speaker_regex,
    )
    summary = preprocess(args.inputs, args.output, config, workers=args.workers, shard=args.shard,
                         progress=not args.quiet, retry_failed=args.retry_failed)
    print(
        f"prepared {summary.done} clip(s), {summary.skipped_existing} already done, {summary.failed} failed; "
        f"{summary.frames} frames in {summary.seconds:.1f} s ({summary.frames_per_second:.1f} frames/s) "
        f"-> {args.output}"
    )
    if summary.failed_before:
        print(f"  {summary.failed_before} clip(s) failed in an earlier run and were not tried again "
              "(reasons in the manifest; --retry-failed tries them again)")
    for err in summary.errors:
        print(f"  skipped: {err}")
    if args.preview:
        ds = PreparedDataset(args.output)
        for clip in ds.clips():
            render_preview(clip, Path(args.output) / "previews" / f"{clip.clip_id}.png")
        print(f"previews: {Path(args.output) / 'previews'}")
    return 0 if summary.done + summary.skipped_existing > 0 or summary.total == 0 else 1


def _cmd_inspect(args: argparse.Namespace) -> int:
    from talkface.data.dataset import PreparedDataset, load_clip
    from talkface.data.preview import render_preview

    target = Path(args.target)
    if target.suffix == ".npz":
        clips = [load_clip(target)]
    else:
        ds = PreparedDataset(target)
        ids = args.clip or ds.ids()[:1]
        for c in ids:
            if not ds.clip_path(c).is_file():
                raise InputError(target, f"no prepared clip {c!r} (clip ids are <speaker>/<utterance>)")
        clips = [load_clip(ds.clip_path(c)) for c in ids]
    for clip in clips:
        if args.frame is not None and not 0 <= args.frame < clip.num_frames:
            raise InputError(clip.crop_path or target, f"--frame {args.frame}: the clip has frames 0 to "
                             f"{clip.num_frames - 1}")
    for clip in clips:
        out = Path(args.output) if len(clips) == 1 and args.output else Path(args.output or ".") / (
            clip.clip_id.replace("/", "_") + ".png")
        render_preview(clip, out, frame=args.frame)
        print(out)
    return 0


def _devices(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def _train_config_from_args(args: argparse.Namespace) -> TrainConfig:
    from talkface.train.core import TrainConfig

    return TrainConfig(
        max_steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
        accelerator=args.accelerator, devices=args.devices, strategy=args.strategy, precision=args.precision,
        num_nodes=args.num_nodes, num_workers=args.loader_workers, num_threads=args.threads,
        checkpoint_every_n_steps=args.checkpoint_every, log_every_n_steps=args.log_every,
        val_every_n_steps=args.val_every,
        progress_bar=not args.quiet, max_minutes=args.max_minutes,
    )


def _add_train_args(p: argparse.ArgumentParser, steps: int, batch_size: int, lr: float) -> None:
    """Options of every `talkface train-*` command (fields of talkface.train.core.TrainConfig)."""
    p.add_argument("-o", "--output", required=True, help="run folder (resumed from its last.ckpt if present)")
    p.add_argument("--steps", type=int, default=steps, help="training batches in total")
    p.add_argument("--batch-size", type=int, default=batch_size, help="samples per batch per device")
    p.add_argument("--lr", type=float, default=lr, help="Adam learning rate")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--accelerator", default="auto", help="cpu, gpu, auto")
    p.add_argument("--devices", type=_devices, default="auto", help="device count or 'auto'")
    p.add_argument("--strategy", default="auto", help="Lightning strategy (auto, ddp, ...)")
    p.add_argument("--precision", default="auto", help="auto (32-bit), bf16-mixed, 16-mixed")
    p.add_argument("--num-nodes", type=int, default=1, help="machines (multi-node DDP)")
    p.add_argument("--loader-workers", type=int, default=0, help="data-loader worker processes")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--checkpoint-every", type=int, default=1000, help="write step=N.ckpt every N batches")
    p.add_argument("--log-every", type=int, default=50, help="log losses every N batches")
    p.add_argument("--val-every", type=int, default=None,
                   help="validate every N batches (scores in metrics.csv) and keep the best weights in "
                   "best.ckpt: lowest val/lmd (motion, regression), highest val/psnr (texture, e2e), "
                   "lowest val/mmd_sequence (blink)")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop after this many minutes of training (last.ckpt is written; run again to resume)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _cmd_train_lgan(args: argparse.Namespace) -> int:
    """`talkface train motion|regression`: the l-GAN (or its regression-only ablation)."""
    from talkface.motion.data import MotionDataConfig
    from talkface.motion.lgan import LGANConfig, train_lgan

    model = LGANConfig(regression_only=args.model == "regression", temporal_loss=args.temporal_loss,
                       lambda_gan=getattr(args, "lambda_gan", 1.0))
    init = _bundle_part(args.init, "lgan") if args.init else None
    print(train_lgan(args.output, MotionDataConfig(roots=tuple(args.data)), _train_config_from_args(args), model,
                     init=init))
    return 0


def _cmd_train_blink(args: argparse.Namespace) -> int:
    """`talkface train blink`: the blink generator G_B."""
    from talkface.motion.blink import train_blink
    from talkface.motion.data import BlinkDataConfig

    print(train_blink(args.output, BlinkDataConfig(roots=tuple(args.data)), _train_config_from_args(args)))
    return 0


def _cmd_train_sync(args: argparse.Namespace) -> int:
    """`talkface train sync`: the lip-sync model the evaluation's AV offset / LSE-D / LSE-C use."""
    from talkface.errors import InputError
    from talkface.eval.sync import SyncNetConfig, SyncNetDataConfig, train_syncnet

    files = [f for f in (args.init, args.realign_with, args.warm_start, args.exclude_file) if f]
    for path in [*args.data, *files]:
        if not Path(path).exists():
            raise InputError(path, "not found")
    exclude = list(args.exclude)
    if args.exclude_file:
        exclude += Path(args.exclude_file).read_text().split()
    result = train_syncnet(
        args.data[0], args.output, train_config=_train_config_from_args(args), extra_train=args.data[1:],
        data_config=SyncNetDataConfig(windows_per_item=args.windows_per_item), max_train_clips=args.max_train_clips,
        max_val_clips=args.max_val_clips, exclude=exclude, init=args.init, realign_with=args.realign_with,
        config=SyncNetConfig(audio_context=args.audio_context), warm_start=args.warm_start,
    )
    print(result.model_path)
    for key, value in result.validation.items():
        print(f"  {key}: {value:.3f}")
    return 0


def _cmd_train_lipread(args: argparse.Namespace) -> int:
    """`talkface train lipread`: the GRID lip reader behind the evaluation's WER."""
    from talkface.errors import InputError
    from talkface.eval.lipread_train import train_lipreader

    lists = {}
    for name in ("train_list", "val_list", "exclude_file"):
        path = getattr(args, name)
        if path:
            if not Path(path).is_file():
                raise InputError(path, "not found")
            lists[name] = Path(path).read_text().split()
    if len(args.data) != 1:
        raise InputError(args.data[1], "the lip reader trains on one prepared dataset")
    result = train_lipreader(
        args.data[0], args.output, train_config=_train_config_from_args(args), train_ids=lists.get("train_list"),
        val_ids=lists.get("val_list"), exclude=[*args.exclude, *lists.get("exclude_file", [])],
        cache_dir=args.cache, progress=not args.quiet,
    )
    print(f"{result.model_path} ({result.train_clips} train clips, {result.val_clips} val clips, "
          f"weights of {result.checkpoint.name})")
    return 0


def _cmd_train_texture(args: argparse.Namespace) -> int:
    """`talkface train texture`: a texture generator (--variant), optionally MAML meta-trained."""
    from talkface.errors import InputError
    from talkface.texture.data import TextureDataConfig
    from talkface.texture.tgan import TextureConfig, init_config, train_texture

    adversarial = not args.no_adversarial
    train = _train_config_from_args(args)
    init = _bundle_part(args.init, "texture") if args.init else None
    if init is not None:
        if args.meta:
            raise InputError(args.init, "--init fine-tunes a generator; MAML meta-training (--meta) starts afresh")
        model = init_config(init, adversarial=adversarial)
    elif args.variant == "adain":
        model = TextureConfig(image_size=args.size, base_channels=args.channels, adversarial=adversarial)
    else:
        map_size = args.map_size or args.size
        model = TextureConfig(image_size=args.size, base_channels=args.channels, variant="attention",
                              bottleneck_size=map_size // 8, warp_identity=args.variant == "warp",
                              map_size=map_size, attention_size=map_size // 4, adversarial=adversarial,
                              map_region=args.map_region if args.variant == "warp" else "all")
    data = TextureDataConfig(
        roots=tuple(args.data), num_references=args.references, frames_per_clip=args.frames_per_clip,
        references_from=args.references_from,
        temporal=model.variant != "adain" and not args.no_temporal, val_split=None, samples_per_epoch=100_000,
    )
    if args.meta:
        from talkface.texture.meta import MetaTextureConfig, meta_train_texture

        meta = MetaTextureConfig(**{f: getattr(model, f) for f in model.__dataclass_fields__})
        print(meta_train_texture(args.output, data, meta, train))
    else:
        print(train_texture(args.output, data, model, train, sample_every=args.sample_every, init=init))
    return 0


def _bundle_part(spec: str, part: str) -> Path:
    """``--init`` of `talkface train texture|motion|regression`: a checkpoint/export file, or the ``part``
    (``"texture"``, ``"lgan"``) of a model bundle folder or of the shipped model ('default')."""
    from talkface.errors import InputError
    from talkface.pipeline import DEFAULT_MODEL, read_bundle_info

    path = DEFAULT_MODEL if spec == "default" else Path(spec)
    if path.is_dir():
        return path / str(read_bundle_info(path)[part])
    if not path.is_file():
        raise InputError(path, "not found")
    return path


def _cmd_evaluate_motion(args: argparse.Namespace) -> int:
    import torch

    from talkface.eval.motion_metrics import blink_statistics, dataset_blink_statistics, evaluate_motion
    from talkface.motion.blink import load_blink
    from talkface.motion.lgan import load_lgan

    if args.threads:
        torch.set_num_threads(args.threads)
    models: dict[str, object] = {"static-neutral": None}
    models.update({("default" if p == "default" else Path(p).parent.name or p): load_lgan(_bundle_part(p, "lgan"))
                   for p in (args.lgan or (["default"] if args.liveliness else []))})
    if args.liveliness:
        from talkface.eval.liveliness import evaluate_liveliness, summarise

        blink = load_blink(_bundle_part("default", "blink"))
        for name, model in models.items():
            if model is None:
                continue
            rows = evaluate_liveliness(args.data, model, blink, split=args.split, head_motion=args.head_motion,
                                       seed=0, normalise_mouth=not args.raw_mouth)
            print(f"{name}, first frame + own speech (head motion {args.head_motion:g}"
                  f"{', raw mouth' if args.raw_mouth else ''}):")
            for line in summarise(rows).lines():
                print("  " + line)
        return 0
    for name, s in evaluate_motion(args.data, models, split=args.split).items():
        print(f"{name}: LMD {s.lmd:.3f} px (retargeted {s.lmd_person:.3f}), "
              f"mouth-opening r {s.mouth_correlation:.3f}, opening amplitude {s.opening_amplitude:.2f}, "
              f"{s.num_clips} clips")
    if args.blink:
        truth = dataset_blink_statistics(args.data, args.split)
        print(f"real clips ({args.split}): {truth.rate:.3f} blinks/s, {truth.duration:.3f} s")
        model = load_blink(args.blink)
        n = round(args.seconds * model.config.fps)
        for rate in [None, *args.blink_rate]:
            seqs = model.generate(n, args.sequences, seed=0, blink_rate=rate)
            bs = blink_statistics(seqs, model.config.fps)
            print(f"G_B ({'natural' if rate is None else f'target {rate}/s'}): {bs.rate:.3f} blinks/s, "
                  f"{bs.duration:.3f} s mean duration, {len(bs.durations)} blinks in {args.sequences} x "
                  f"{args.seconds:g} s")
    return 0


def _cmd_landmarks(args: argparse.Namespace) -> int:
    import torch

    from talkface.face.draw import draw_landmarks
    from talkface.motion.blink import load_blink
    from talkface.motion.lgan import load_lgan
    from talkface.motion.render import plot_mouth_vs_energy, predict_landmarks
    from talkface.photo_video import DEFAULT_MAX_SIDE, check_paths, prepare_photo, read_speech, write_frames

    for name in ("blink_rate", "seed", "max_duration_s", "threads"):
        value = getattr(args, name)
        if value is not None:
            check_value(name, value)
    check_paths(args.face, args.speech, args.output)
    if args.lgan is not None:  # a checkpoint, a bundle folder or 'default'
        if args.lgan != "default" and not Path(args.lgan).exists():
            raise InputError(args.lgan, "checkpoint not found")
        _bundle_part(args.lgan, "lgan")
    if args.blink is not None and not Path(args.blink).is_file():
        raise InputError(args.blink, "checkpoint not found")
    if args.plot:
        check_output_file(args.plot, suffixes=(".png",), kind="PNG file", inputs=(args.face, args.speech))
    if args.strip:
        check_output_file(args.strip, suffixes=(".png",), kind="PNG file", inputs=(args.face, args.speech))
    if args.threads:
        torch.set_num_threads(args.threads)
    audio = read_speech(args.speech, max_duration_s=args.max_duration_s)  # the path animate takes
    photo = prepare_photo(args.face, max_side=DEFAULT_MAX_SIDE)
    image, person = photo.image, photo.landmarks
    if args.lgan is None:  # the shipped model's motion and blink generators
        lgan = load_lgan(_bundle_part("default", "lgan"))
        blink_file = None if args.no_blink else args.blink or _bundle_part("default", "blink")
    else:
        lgan = load_lgan(_bundle_part(args.lgan, "lgan"))
        blink_file = None if args.no_blink else args.blink
    blink = load_blink(blink_file) if blink_file else None
    landmarks = predict_landmarks(image, audio, lgan, blink, seed=args.seed, blink_rate=args.blink_rate,
                                  person_landmarks=person, image_path=args.face, motion_scale=args.motion_scale,
                                  close_mouth=not args.keep_open_mouth, head_motion=args.head_motion,
                                  normalise_mouth=not args.raw_mouth)
    fps = float(lgan.config.fps)
    background = image if args.on_photo else None
    drawn = (draw_landmarks(x, None if args.on_photo else image.shape[:2], image=background) for x in landmarks)
    write_frames(args.output, drawn, fps, audio=audio, total=len(landmarks))
    print(f"{args.output}: {len(landmarks)} frames at {fps:g} fps")
    reference = None
    if (args.plot or args.strip) and Path(args.speech).suffix.lower() in (".mp4", ".mov", ".mkv", ".m4v", ".mpg",
                                                                            ".mpeg", ".avi", ".webm"):
        # the speech is a video of a speaker: their tracked landmarks are the reference
        from talkface.face.landmarks import track_landmarks
        from talkface.io.media import read_video

        frames, video_fps = read_video(args.speech, max_frames=len(landmarks))
        if abs(video_fps - fps) < 0.01:
            try:
                reference = track_landmarks(frames, fps=video_fps, path=args.speech).landmarks
            except InputError as err:  # no (single) face in the video: plot the prediction alone
                print(f"talkface: note: {err}; no real landmarks plotted", file=sys.stderr)
        else:
            print(f"talkface: note: {args.speech}: {video_fps:g} fps, not {fps:g}; no real landmarks plotted",
                  file=sys.stderr)
    if args.plot:
        ref = reference[: len(landmarks)] if reference is not None and len(reference) >= len(landmarks) else None
        plot_mouth_vs_energy(args.plot, landmarks, audio, fps, reference=ref)
        print(args.plot)
    if args.strip:
        from talkface.motion.render import plot_landmark_strip

        plot_landmark_strip(args.strip, landmarks, fps, reference=reference)
        print(args.strip)
    return 0


def _cmd_train_e2e(args: argparse.Namespace) -> int:
    """`talkface train e2e`: the end-to-end temporal GAN (only the e2e options given override its config)."""
    from talkface.e2e import E2EConfig, E2EDataConfig, ablation_config, train_e2e
    from talkface.errors import InputError

    train = _train_config_from_args(args)
    given = vars(args)
    model_fields = (
        "image_size", "base_channels", "audio_encoder", "audio_base_channels", "audio_code_size", "context_size",
        "disc_frame_code_size", "disc_audio_code_size", "disc_rnn_size", "l1_weight", "l1_region", "window_s",
        "frame_samples", "lr_frame_discriminator", "lr_sequence_discriminator", "lr_decay_start_epoch",
    )
    model = {f: given[f] for f in model_fields if f in given}
    if given.get("no_frame_disc"):
        model["use_frame_discriminator"] = False
    if given.get("no_seq_disc"):
        model["use_sequence_discriminator"] = False
    if given.get("spp"):
        model["sequence_discriminator"] = "spp"
    data_fields = ("min_frames", "max_frames", "samples_per_clip", "max_train_clips", "max_val_clips", "still")
    data = {f: given[f] for f in data_fields if f in given}
    if given.get("no_mirror"):
        data["mirror"] = False
    try:
        model_config = ablation_config(given["ablation"], **model) if "ablation" in given else E2EConfig(**model)
        data_config = E2EDataConfig(root=args.data[0], extra_roots=tuple(args.data[1:]), **data)
    except ValueError as exc:
        raise InputError(None, str(exc)) from exc
    print(train_e2e(args.output, data_config, model_config, train))
    return 0


def _cmd_animate_e2e(args: argparse.Namespace) -> int:
    import torch

    from talkface.e2e import animate_e2e
    from talkface.photo_video import check_paths

    for name in ("seed", "chunk_frames", "max_duration_s", "threads"):
        value = getattr(args, name)
        if value is not None:
            check_value(name, value)
    check_device(args.device)
    check_paths(args.face, args.speech, args.output)
    if args.checkpoint is not None and not Path(args.checkpoint).is_file():
        raise InputError(args.checkpoint, "checkpoint not found")
    if args.threads:
        torch.set_num_threads(args.threads)
    written = animate_e2e(args.face, args.speech, args.output, args.checkpoint, seed=args.seed,
                          chunk_frames=args.chunk_frames, device=args.device, max_duration_s=args.max_duration_s,
                          crop_only=args.crop_only, progress=not args.quiet)
    print(f"{args.output}: {written} frames")
    return 0


def _named_folder(text: str) -> tuple[str, str]:
    """argparse type of ``--videos NAME=DIR``."""
    name, sep, folder = text.partition("=")
    if not sep or not name.strip() or not folder:
        raise argparse.ArgumentTypeError(f"expected NAME=DIR, got {text!r}")
    return name.strip(), folder


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


_motion_scale = number_arg("motion_scale")
_head_motion = number_arg("head_motion")


HEAD_MOTION_HELP = ("strength of the generated head and brow motion (yaw/pitch/roll, small shifts, brow raises, "
                    "following the speech's loudness; seeded by --seed): 0 = the head keeps the photo's pose, "
                    "1 = natural, up to 3 = livelier")
RAW_MOUTH_HELP = ("use the motion model's mouth amplitude as predicted; by default each utterance's mouth motion is "
                  "scaled (x1-2.5) to vary as much as real speech does, since the model under-shoots on unseen voices")
KEEP_OPEN_HELP = ("keep an open mouth in the photo as the neutral face (it then stays open throughout); by default "
                  "it is closed for the animation")
RENDERER_HELP = ("native: the photo warped at its own resolution by the landmarks, mouth interior and closing lids "
                 "painted (sharp, no seam); crop: the texture generator's 128 px face crop pasted back (previous "
                 "default, blurrier)")
MOUTH_HELP = ("native renderer's mouth interior: painted (dark cavity + teeth in the photo's colours), cavity (no "
              "teeth), warp (nothing painted), generator (the crop generator's mouth inside the lips); auto: "
              "generator with --person (the person model learned their teeth), else painted")
MOTION_SCALE_HELP = ("gain on the speech motion: 1 = as the motion model predicts, >1 wider mouth movements "
                     "(e.g. 1.3 when an unseen face's mouth comes out too small), 0 = still mouth; blinks unchanged")


def _evaluate_command(args: argparse.Namespace) -> str:
    """The canonical ``talkface evaluate`` command line of ``args`` (recorded in the report header)."""
    import shlex

    parts = ["talkface", "evaluate", args.data, "--split", args.split]
    if args.max_clips is not None:
        parts += ["--max-clips", str(args.max_clips)]
    for model in args.model:
        parts += ["--model", model]
    for name, folder in args.videos:
        parts += ["--videos", f"{name}={folder}"]
    parts += ["-o", args.output, "--seed", str(args.seed), "--still", args.still,
              "--lpips-stride", str(args.lpips_stride), "--identity-stride", str(args.identity_stride)]
    parts += [flag for flag, on in (("--no-lpips", args.no_lpips), ("--no-identity", args.no_identity),
                                    ("--no-sync", args.no_sync), ("--no-lipread", args.no_lipread),
                                    ("--no-render-metrics", args.no_render_metrics)) if on]
    if args.sync_model:
        parts += ["--sync-model", args.sync_model]
    if args.lipreader:
        parts += ["--lipreader", args.lipreader]
    if args.motion_scale != 1.0:
        parts += ["--motion-scale", f"{args.motion_scale:g}"]
    if args.keep_open_mouth:
        parts += ["--keep-open-mouth"]
    if args.head_motion != 1.0:
        parts += ["--head-motion", f"{args.head_motion:g}"]
    if args.raw_mouth:
        parts += ["--raw-mouth"]
    if args.device != "cpu":
        parts += ["--device", args.device]
    return shlex.join(parts)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import torch

    from talkface.errors import InputError
    from talkface.eval.report import GROUND_TRUTH, STILL_BASELINE, EvalConfig, dataset_clip_ids, evaluate_videos

    check_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    _, ids = dataset_clip_ids(args.data, args.split, args.max_clips)  # bad data / split: fail before loading models
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise InputError(out, "report folder is a file")
    if args.sync_model and not Path(args.sync_model).is_file():
        raise InputError(args.sync_model, "sync model not found")
    if args.lipreader and not args.no_lipread:
        from talkface.eval.lipread import load_lipreader

        load_lipreader(args.lipreader)  # missing / not a lip reader: fail before any work
    names: list[str] = []

    def method_name(base: str) -> str:
        name, n = base, 2
        while name in names or name in (GROUND_TRUTH, STILL_BASELINE):
            name, n = f"{base} ({n})", n + 1
        names.append(name)
        return name

    generated: dict[str, str] = {}
    for name, folder in args.videos:
        if not Path(folder).is_dir():
            raise InputError(folder, f"folder of generated videos ({name}) not found")
        generated[method_name(name)] = folder
    for spec in args.model:
        if spec != "default" and not Path(spec).is_dir():
            raise InputError(spec, "model folder not found")
    models = {}
    if args.model:
        try:
            from talkface.pipeline import AnimateConfig, Animator
        except ModuleNotFoundError as exc:
            if exc.name != "talkface.pipeline":
                raise
            raise InputError(None, "--model needs talkface.pipeline, which this installation lacks; evaluate "
                             "videos generated elsewhere with --videos NAME=DIR") from exc
        for spec in args.model:
            default = spec == "default"
            animator = Animator(AnimateConfig(model=None if default else spec, seed=args.seed, device=args.device,
                                              threads=args.threads, motion_scale=args.motion_scale,
                                              close_mouth=not args.keep_open_mouth, head_motion=args.head_motion,
                                              normalise_mouth=not args.raw_mouth, renderer=args.renderer))
            label = "talkface (default model)" if default else Path(spec).resolve().name
            models[method_name(label)] = animator.talking_head
    config = EvalConfig(
        still=args.still, max_clips=args.max_clips, seed=args.seed, lpips_stride=args.lpips_stride,
        identity_stride=args.identity_stride, lpips=not args.no_lpips, identity=not args.no_identity,
        sync=not args.no_sync, sync_model=args.sync_model, device=args.device, lipread=not args.no_lipread,
        lipreader=args.lipreader, render=not args.no_render_metrics,
    )
    table = evaluate_videos(dataset=args.data, split=args.split, models=models, generated=generated, out_dir=out,
                            config=config, command=_evaluate_command(args), progress=not args.quiet)
    print(table.to_markdown(per_clip=False))
    print(f"{len(ids)} clip(s) -> {out / 'report.md'}, summary.csv, per_clip.csv, strip.png, blink_durations.png")
    return 0


def _cmd_animate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from talkface.pipeline import AnimateConfig, Animator, check_paths, read_bundle_info

    natural = math.isfinite(args.blink_rate) and args.blink_rate < 0  # negative: the model's natural rate
    config = AnimateConfig(
        model=args.model, person=args.person, blink_rate=None if natural else args.blink_rate,
        motion_scale=args.motion_scale, close_mouth=not args.keep_open_mouth, head_motion=args.head_motion,
        normalise_mouth=not args.raw_mouth, size=args.size, max_side=args.max_side,
        seed=args.seed, max_duration_s=args.max_duration, device=args.device, threads=args.threads, crf=args.crf,
        backend=args.backend, renderer=args.renderer, mouth=args.mouth,
    )
    check_paths(args.face, args.speech, args.output, args.person)  # before any model loads
    if args.model is not None:
        read_bundle_info(Path(args.model))
    bar = tqdm(total=100, unit="%", desc="loading models", disable=args.quiet, dynamic_ncols=True,
               bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")
    animator = Animator(config)
    weights = {"audio": (0, 3), "face": (3, 8), "motion": (8, 15), "texture": (15, 100), "done": (100, 100)}

    def progress(stage: str, fraction: float) -> None:
        lo, hi = weights.get(stage, (0, 100))
        bar.set_description(stage if stage != "texture" else "texture + encode")
        bar.n = round(lo + (hi - lo) * fraction)
        bar.refresh()

    bar.set_description("audio")
    try:
        result = animator.animate(args.face, args.speech, args.output, progress=progress)
    finally:
        bar.close()
    for note in result.warnings:
        print(f"talkface: warning: {args.face}: {note}", file=sys.stderr)
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in result.stage_seconds.items())
    print(f"{result.output}: {result.frames} frames at {result.fps:g} fps ({result.duration_s:.1f} s of speech) "
          f"in {result.seconds:.1f} s = {result.frames_per_second:.1f} frames/s [{stages}]")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from talkface.serve import ServeConfig, serve
    from talkface.serve.guard import is_loopback

    for name in ("port", "max_upload_mb", "max_audio_seconds", "max_image_megapixels", "job_ttl_minutes",
                 "client_timeout"):
        check_value(name, getattr(args, name))
    if args.work_dir and Path(args.work_dir).exists() and not Path(args.work_dir).is_dir():
        raise InputError(args.work_dir, "work folder is a file")
    if args.model is not None:
        from talkface.pipeline import read_bundle_info

        read_bundle_info(Path(args.model))
    token = args.token if args.token is not None else os.environ.get("TALKFACE_SERVE_TOKEN") or None
    config = ServeConfig(
        host=args.host, port=args.port, workers=args.workers, max_upload_bytes=int(args.max_upload_mb * 2**20),
        max_audio_seconds=args.max_audio_seconds, max_image_pixels=int(args.max_image_megapixels * 1e6),
        job_ttl_s=args.job_ttl_minutes * 60, work_dir=Path(args.work_dir) if args.work_dir else None,
        max_queued=args.max_queued, model=args.model, threads=args.threads, allowed_hosts=tuple(args.allow_host),
        allowed_origins=tuple(args.allow_origin), token=token, client_timeout_s=args.client_timeout, queue=args.queue,
        queue_retries=args.queue_retries, queue_lease_s=args.queue_lease_s,
        max_live_sessions=args.max_live_sessions,
    )
    if args.queue:
        if not args.work_dir:
            raise TalkfaceError("--queue needs --work-dir: the job folder the workers see too")
        from talkface.serve.redis_queue import connect

        connect(args.queue)  # one line now if Redis does not answer, not a failed start-up later
    where = f"http://{'[' + args.host + ']' if ':' in args.host else args.host}:{args.port}/"
    print(f"talkface serve: {where}{'?token=' + token if token else ''} "
          f"({args.workers} worker(s); API schema at /openapi.json; Ctrl-C to stop)", flush=True)
    if not is_loopback(args.host) and not token:
        print(f"talkface: warning: listening on {args.host} without a token: anyone who can reach this machine can "
              "use the server (set --token or TALKFACE_SERVE_TOKEN, or put an authenticating proxy in front)",
              file=sys.stderr, flush=True)
    serve(config)
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    from talkface.serve.redis_queue import run_worker_command

    return run_worker_command(args)


def _cmd_adapt(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from talkface.pipeline import adapt_person

    bars: list[tqdm] = []  # made at the first step: a refused argument prints only its one-line error

    def progress(stage: str, fraction: float) -> None:
        if not bars:
            bars.append(tqdm(total=args.steps, unit="step", desc="adapt", disable=args.quiet, dynamic_ncols=True))
        bars[0].n = round(fraction * args.steps)
        bars[0].refresh()

    try:
        facts = adapt_person(args.inputs, args.output, model=args.model, frames=args.frames, steps=args.steps,
                             lr=args.lr, seed=args.seed, threads=args.threads, progress=progress)
    finally:
        for bar in bars:
            bar.close()
    print(f"{args.output}: adapted on K={facts['K']} frames, {facts['steps']} steps in {facts['seconds']:.1f} s "
          f"(loss {facts['loss_first']:.4f} -> {facts['loss_last']:.4f})")
    return 0


def _cmd_bundle(args: argparse.Namespace) -> int:
    from talkface.pipeline import make_bundle

    out = make_bundle(args.output, args.lgan, args.texture, args.blink, name=args.name, half=not args.fp32,
                      card=args.card, stream_motion=args.stream_motion)
    size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    print(f"{out}: model bundle, {size:.1f} MB; use it with: talkface animate FACE SPEECH -o OUT.mp4 --model {out}")
    return 0


def _cmd_live(args: argparse.Namespace) -> int:
    from talkface.live.command import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    """The full ``talkface`` argument parser (every subcommand)."""
    parser = argparse.ArgumentParser(
        prog="talkface",
        description="talkface: one still photo of a face + a speech recording -> a talking-head video. "
        "Subcommands prepare data, train the models, animate faces and evaluate results.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"talkface {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "animate",
        help="photo of a face + speech -> talking-head mp4 (the default model ships with talkface)",
        description="Animate the face in a photo with a speech recording: speech features -> l-GAN landmark motion "
        "-> blink generator -> retargeting onto the photo's landmarks -> the photo warped at its own resolution by "
        "those landmarks, mouth interior and closing lids painted (--renderer crop: the texture generator's face "
        "crop pasted back), H.264 video with the speech muxed in (AAC). Works offline with the model "
        "bundled in the package; --model picks another bundle (see talkface.pipeline.make_bundle). Bad input "
        "(no face or several, silent/corrupt/empty audio, ...) gives a one-line error and no output file.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("face", help="photo of one face (jpg/png/webp/...; gray, RGBA, CMYK, 16-bit are converted)")
    p.add_argument("speech", help="speech recording (wav/mp3/flac/ogg/m4a, or a video's audio track)")
    p.add_argument("-o", "--output", required=True, help="video file to write (.mp4)")
    p.add_argument("--model", default=None, help="model bundle folder (default: the bundled default model)")
    p.add_argument("--person", default=None, help="person model from 'talkface adapt' (texture fine-tuned to them)")
    p.add_argument("--blink-rate", type=float, default=0.35,
                   help="blinks per second (humans 0.28-0.4); negative: the blink model's natural rate")
    p.add_argument("--motion-scale", type=_motion_scale, default=1.0, help=MOTION_SCALE_HELP)
    p.add_argument("--keep-open-mouth", action="store_true", help=KEEP_OPEN_HELP)
    p.add_argument("--head-motion", type=_head_motion, default=1.0, help=HEAD_MOTION_HELP)
    p.add_argument("--raw-mouth", action="store_true", help=RAW_MOUTH_HELP)
    p.add_argument("--renderer", choices=("native", "crop"), default="native", help=RENDERER_HELP)
    p.add_argument("--mouth", choices=("auto", "painted", "cavity", "warp", "generator"), default="auto",
                   help=MOUTH_HELP)
    p.add_argument("--size", type=int, default=0,
                   help="0: the whole photo with the face animated; N: only the N x N aligned face crop")
    p.add_argument("--max-side", type=int, default=1280, help="downscale larger photos to this longer side first")
    p.add_argument("--seed", type=int, default=0, help="seed of the blink noise (same seed, same video)")
    p.add_argument("--max-duration", type=float, default=600.0, help="longest speech accepted, seconds")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--crf", type=int, default=18, help="H.264 quality (lower = better, bigger)")
    p.add_argument("--backend", choices=("auto", "onnx", "torch"), default="auto",
                   help="texture network on the CPU: onnxruntime (faster) or PyTorch; auto = onnx when available")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_animate)

    p = sub.add_parser(
        "adapt",
        help="fine-tune the texture generator to one person from a short video or a few photos",
        description="Few-shot adaptation (cascade paper Sec. 3.5): take K frames of the person (evenly spaced from "
        "one video, or K photos), fine-tune the texture generator on them and write a person model; then "
        "'talkface animate PHOTO SPEECH --person person.pt' uses it. Takes about a minute on a CPU for K=20.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", help="one video of the person, or several photos")
    p.add_argument("-o", "--output", required=True, help="person model file to write (.pt)")
    p.add_argument("--model", default=None, help="model bundle folder (default: the bundled default model)")
    p.add_argument("--frames", type=int, default=20, help="K: frames taken from a video")
    p.add_argument("--steps", type=int, default=40, help="fine-tuning steps (4 frames each)")
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate")
    p.add_argument("--seed", type=int, default=0, help="seed of the batch order")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_adapt)

    p = sub.add_parser(
        "bundle",
        help="pack trained checkpoints into a model bundle for 'talkface animate --model'",
        description="Export the l-GAN, blink-generator and texture checkpoints (generators only, fp16) into one "
        "folder with a talkface-model.json; the bundle is checked by loading it before it is written.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("-o", "--output", required=True, help="bundle folder to create (replaced if present)")
    p.add_argument("--lgan", required=True, help="l-GAN checkpoint (talkface train motion)")
    p.add_argument("--texture", required=True, help="texture checkpoint (talkface train texture)")
    p.add_argument("--blink", default=None, help="blink checkpoint (talkface train blink); none: no blinks")
    p.add_argument("--name", default="talkface", help="model name recorded in the bundle")
    p.add_argument("--fp32", action="store_true", help="keep float32 weights (default: float16, half the size)")
    p.add_argument("--card", default=None, help="Markdown model card to include as MODEL_CARD.md")
    p.add_argument("--stream-motion", default=None,
                   help="streaming motion checkpoint (python -m talkface.live.train) for 'talkface live'")
    p.set_defaults(func=_cmd_bundle)

    p = sub.add_parser(
        "preprocess",
        help="prepare talking videos into a training dataset",
        description="Turn folders of talking-head videos (GRID sN/*.mpg, or any folder of mp4/avi/mov/webm, "
        "with the speech in the video or in a same-named .wav beside it) into a prepared dataset: aligned face "
        "crops (H.264), 68 landmarks per frame in image, crop and canonical coordinates, eye aspect ratio, the "
        "neutral frame, per-frame speech features, and a train/val/test split by speaker. Resumable (finished "
        "clips are skipped), parallel (--workers), shardable across machines (--shard i/n). Clips that cannot be "
        "used are listed with the reason and do not stop the run.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", help="video files or folders (searched recursively)")
    p.add_argument("-o", "--output", required=True, help="dataset folder to create or resume")
    p.add_argument("--crop-size", type=int, default=128, choices=(128, 256), help="aligned crop side, pixels")
    p.add_argument("--feature", default="whisper-tiny.en",
                   help="speech feature: whisper-tiny.en (default, speaker-invariant), whisper-base (multilingual, "
                   "extra 'multilingual'), mfcc, logmel, raw, hama (extra 'phonemes')")
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                   help="processes working on different files")
    p.add_argument("--shard", type=_shard, default=(0, 1), metavar="I/N",
                   help="only the I-th of N shares of the files (for SLURM arrays / many machines)")
    p.add_argument("--detect-every", type=int, default=5, help="run the face detector every k frames")
    p.add_argument("--max-duration", type=float, default=600.0, help="skip clips longer than this, seconds")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of speakers held out for validation")
    p.add_argument("--test-fraction", type=float, default=0.1, help="share of speakers held out for testing")
    p.add_argument("--speaker-regex", default=None,
                   help="regex on the file stem whose group 1 names the speaker (default: sub-folder, else stem)")
    p.add_argument("--seed", type=int, default=0, help="seed of the speaker split")
    p.add_argument("--preview", action="store_true", help="also write previews/<speaker>/<clip>.png")
    p.add_argument("--retry-failed", action="store_true",
                   help="try again the clips an earlier run could not use (by default they are skipped while the "
                   "source file is unchanged)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_preprocess)

    p = sub.add_parser(
        "inspect",
        help="PNG of a prepared clip: frame, landmarks, EAR curve",
        description="Write a PNG showing a prepared clip's aligned crop with its landmarks, its landmark image "
        "and its eye-aspect-ratio curve with detected blinks.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("target", help="a prepared dataset folder or one clip's .npz")
    p.add_argument("--clip", action="append", help="clip id <speaker>/<utterance> (repeatable; default: the first)")
    p.add_argument("--frame", type=int, default=None, help="frame to show (default: the neutral frame)")
    p.add_argument("-o", "--output", default=None, help="PNG file (one clip) or folder")
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser(
        "train",
        help="train a model: motion (l-GAN), regression (its ablation), blink, texture, e2e, sync or lipread",
        description="Train on prepared datasets (talkface preprocess). Every model writes last.ckpt, step=N.ckpt, "
        "config.json and metrics.csv into --output and resumes from last.ckpt; --devices/--strategy/--num-nodes give "
        "multi-GPU and multi-node DDP with no code change. 'talkface train MODEL --help' lists a model's options.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    models = p.add_subparsers(dest="model", required=True, metavar="MODEL")

    def model_parser(name: str, summary: str, description: str, steps: int, batch_size: int, lr: float,
                     data_help: str = "prepared dataset folder(s)") -> argparse.ArgumentParser:
        mp = models.add_parser(name, help=summary, description=description,
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        mp.add_argument("data", nargs="+", help=data_help)
        _add_train_args(mp, steps=steps, batch_size=batch_size, lr=lr)
        return mp

    for name, summary in (("motion", "l-GAN: speech -> canonical landmark motion (G_L + D_L, eq. 1-5)"),
                          ("regression", "G_L alone, no discriminator (the l-GAN's ablation baseline)")):
        mp = model_parser(name, summary, f"{summary}. Trained on the speech features and canonical landmarks of the "
                          "prepared clips; validation LMD is logged on the 'val' split.", 6000, 16, 2e-4)
        mp.add_argument("--temporal-loss", choices=("smooth", "match"), default="smooth",
                        help="eq. 2 as written (smooth) or the identity paper's eq. 3 (match the truth's motion)")
        mp.add_argument("--init", default=None, metavar="CKPT|BUNDLE|default",
                        help="fine-tune: start G_L from this motion model (a checkpoint, a model bundle folder or "
                        "'default' for the shipped one), e.g. on a new speaker's clips; its architecture and speech "
                        "feature are kept (the data must use the same --feature), D_L starts afresh")
        if name == "motion":
            mp.add_argument("--lambda-gan", type=float, default=1.0,
                            help="weight of the adversarial loss (eq. 5; the paper's 1, docs/motion.md compares 0.25)")
        mp.set_defaults(func=_cmd_train_lgan)

    mp = model_parser("blink", "blink generator G_B (GRU from noise, MMD + min-max range)",
                      "Blink generator: a GRU from Gaussian noise to eye-landmark displacements, trained with MMD "
                      "against the eye motion of the prepared clips plus the min-max range regularisation.",
                      6000, 16, 2e-4)
    mp.set_defaults(func=_cmd_train_blink)

    mp = model_parser("texture", "texture generator: reference image + landmark image -> frame",
                      "Texture generator (--variant): 'adain' = t-GAN (Das et al.), 'attention' = attention + colour "
                      "maps (Sinha et al.), 'warp' = the attention variant composed with the identity image warped "
                      "onto the target landmarks (the default model). --meta: MAML meta-training.", 6000, 16, 2e-4)
    mp.add_argument("--variant", choices=("warp", "attention", "adain"), default="warp", help="generator")
    mp.add_argument("--size", type=int, default=128, choices=(128, 256), help="crop side, pixels")
    mp.add_argument("--channels", type=int, default=16, help="base channels (8-16 on a CPU, 32-64 on a GPU)")
    mp.add_argument("--map-region", choices=("parts", "all"), default="parts",
                    help="warp variant: the colour map acts only around the mouth and eyes (parts) or anywhere (all)")
    mp.add_argument("--map-size", type=int, default=64,
                    help="attention variants: side the maps are predicted at (0: --size; 64 at 128 is ~4x faster)")
    mp.add_argument("--references", type=int, default=1, help="reference images per sample")
    mp.add_argument("--references-from", choices=("clip", "speaker"), default="clip",
                    help="draw references from the target's own clip (same lighting, like a user's photo) or any "
                    "clip of the speaker")
    mp.add_argument("--frames-per-clip", type=int, default=0, help="frames kept per clip (0: all)")
    mp.add_argument("--meta", action="store_true", help="MAML meta-training (adain variant)")
    mp.add_argument("--no-adversarial", action="store_true",
                    help="no discriminator: the regression-only generator (ablation; ~2x cheaper per step)")
    mp.add_argument("--no-temporal", action="store_true",
                    help="attention variants: no frame pairs, so no temporal regularisation (eq. 12; 2x cheaper)")
    mp.add_argument("--sample-every", type=int, default=200, help="write samples/step=N.png every N batches")
    mp.add_argument("--init", default=None, metavar="CKPT|BUNDLE|default",
                    help="fine-tune: start from this texture generator (a checkpoint, a model bundle folder or "
                    "'default' for the shipped one); its architecture replaces --variant/--size/--channels/--map-*")
    mp.set_defaults(func=_cmd_train_texture)

    mp = model_parser("sync", "lip-sync model behind AV offset / LSE-D / LSE-C (talkface evaluate --sync-model)",
                      "SyncNet-style audio-mouth embedding model (docs/evaluation.md): InfoNCE of 5-frame mouth "
                      "windows against the audio of the same clip at offsets within +-15 frames and of other clips. "
                      "Trains on the first dataset's 'train' split plus every clip of the further datasets, validates "
                      "on its 'val' split (shifts -5..+5, frozen mouths) and writes OUTPUT/syncnet.pt.",
                      2000, 16, 1e-3, data_help="prepared dataset (train/val splits), then more datasets to train on")
    mp.add_argument("--init", default=None, help="start from this sync model file (e.g. the bundled one)")
    mp.add_argument("--windows-per-item", type=int, default=16, help="consecutive 5-frame windows per training item")
    mp.add_argument("--max-train-clips", type=int, default=None, help="use at most this many training clips (all)")
    mp.add_argument("--max-val-clips", type=int, default=100, help="validation clips")
    mp.add_argument("--exclude", action="append", default=[], metavar="UTTERANCE",
                    help="utterance never trained on (repeatable), e.g. a held-out evaluation clip")
    mp.add_argument("--exclude-file", default=None, help="text file of utterances never trained on")
    mp.add_argument("--realign-with", default=None,
                    help="sync model used to remove each training clip's own sub-frame offset first")
    mp.add_argument("--audio-context", type=int, default=0,
                    help="frames of audio heard beyond each side of the 5-frame mouth window (ignored with --init)")
    mp.add_argument("--warm-start", default=None,
                    help="sync model file whose layers start the new model where the architectures agree")
    mp.set_defaults(func=_cmd_train_sync)

    mp = model_parser("lipread", "GRID lip reader behind the WER of talkface evaluate",
                      "Lip reader of GRID sentences (docs/evaluation.md): grey mouth crops cut with the prepared "
                      "landmarks, a 3-D/2-D conv front-end, a BiGRU and one attention-pooled classifier per slot "
                      "(command colour preposition letter digit adverb), with flip/scale/colour/blur/frame-rate "
                      "augmentation. Trains on the dataset's 'train' split (or --train-list), keeps the best "
                      "'val' WER in best.ckpt (with --val-every) and writes OUTPUT/lipreader.pt for "
                      "talkface evaluate --lipreader. Sentences come from the GRID file names or .align files.",
                      1000, 16, 2e-3, data_help="prepared dataset of GRID clips")
    mp.add_argument("--train-list", default=None, help="text file of clip ids to train on (default: 'train' split)")
    mp.add_argument("--val-list", default=None, help="text file of clip ids to validate on (default: 'val' split)")
    mp.add_argument("--exclude", action="append", default=[], metavar="UTTERANCE",
                    help="utterance never trained on (repeatable), e.g. a test fixture clip")
    mp.add_argument("--exclude-file", default=None, help="text file of utterances or clip ids never trained on")
    mp.add_argument("--cache", default=None, help="mouth-crop cache folder (default: OUTPUT/cache; reused)")
    mp.set_defaults(func=_cmd_train_lipread)

    p = sub.add_parser(
        "evaluate-motion",
        help="LMD / mouth correlation of l-GAN checkpoints, blink statistics of a blink generator",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("data", nargs="+", help="prepared dataset folder(s)")
    p.add_argument("--lgan", action="append", default=[],
                   help="l-GAN checkpoint, model bundle folder or 'default' (repeatable)")
    p.add_argument("--blink", default=None, help="blink-generator checkpoint")
    p.add_argument("--liveliness", action="store_true",
                   help="instead of LMD in canonical space: animate each clip's first frame with its own speech "
                   "(mouth normalisation, head motion, blinks of the shipped model) and report opening std ratio "
                   "(generated/real), opening correlation, LMD, model-free AV offset, head-pose std ratio per axis "
                   "and head-motion/speech-energy correlation (talkface.eval.liveliness)")
    p.add_argument("--head-motion", type=_head_motion, default=1.0, help="--liveliness: " + HEAD_MOTION_HELP)
    p.add_argument("--raw-mouth", action="store_true", help="--liveliness: " + RAW_MOUTH_HELP)
    p.add_argument("--split", default="test", help="split to evaluate on ('all': every clip)")
    p.add_argument("--sequences", type=int, default=100, help="generated blink sequences")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each generated sequence")
    p.add_argument("--blink-rate", type=float, action="append", default=[], help="also test this target rate")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.set_defaults(func=_cmd_evaluate_motion)

    p = sub.add_parser(
        "landmarks",
        help="photo + speech -> video of the predicted landmarks (with the audio)",
        description="Predict the face's landmark motion for the speech (speech features -> l-GAN -> mouth-amplitude "
        "normalisation -> blink generator -> retargeting onto the photo's own landmarks -> head and brow motion) with "
        "the shipped model (or --lgan) and render it as an mp4 with the audio muxed in.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("face", help="photo of one face (jpg/png/...)")
    p.add_argument("speech", help="speech recording (wav/mp3/flac/m4a/ogg, or a video's audio track)")
    p.add_argument("-o", "--output", required=True, help="mp4 to write")
    p.add_argument("--lgan", default=None,
                   help="l-GAN checkpoint (talkface train motion) or model bundle folder; default: the shipped "
                   "model's motion and blink generators")
    p.add_argument("--blink", default=None,
                   help="blink-generator checkpoint (talkface train blink); default: the shipped model's when "
                   "--lgan is not given, else no blinks")
    p.add_argument("--no-blink", action="store_true", help="no blinks")
    p.add_argument("--blink-rate", type=float, default=0.35, help="blinks per second (human range 0.28-0.4)")
    p.add_argument("--motion-scale", type=_motion_scale, default=1.0, help=MOTION_SCALE_HELP)
    p.add_argument("--keep-open-mouth", action="store_true", help=KEEP_OPEN_HELP)
    p.add_argument("--head-motion", type=_head_motion, default=1.0, help=HEAD_MOTION_HELP)
    p.add_argument("--raw-mouth", action="store_true", help=RAW_MOUTH_HELP)
    p.add_argument("--seed", type=int, default=0, help="seed of the blink and head-motion noise")
    p.add_argument("--on-photo", action="store_true", help="draw the landmarks over the photo")
    p.add_argument("--plot", default=None, help="also write a PNG of mouth opening vs. audio energy (and the real "
                   "opening when the speech is a video of the speaker, e.g. the clip the photo was taken from)")
    p.add_argument("--strip", default=None, help="also write a PNG strip of the predicted landmarks every 5th frame "
                   "(above the real ones when the speech is a video of the speaker)")
    p.add_argument("--max-duration", dest="max_duration_s", type=float, default=600.0,
                   help="longest speech accepted, seconds")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.set_defaults(func=_cmd_landmarks)

    # `talkface train e2e`: the end-to-end temporal GAN's options on the train command. Unset ones keep
    # talkface.e2e.E2EConfig / E2EDataConfig's values (the paper's).
    g = model_parser("e2e", "end-to-end temporal GAN baseline (Vougioukas et al.)",
                     "End-to-end temporal GAN: audio encoder + context GRU, identity encoder, noise GRU, frame "
                     "decoder; frame and sequence discriminators; L1 on the lower half of the face. Unset options "
                     "keep the paper's values.", 6000, 16, 2e-4)
    g.set_defaults(func=_cmd_train_e2e)
    unset = argparse.SUPPRESS
    g.add_argument("--ablation", choices=("l1", "l1+img", "l1+img+seq", "l1+img+spp"), default=unset,
                   help="start from a row of the ablation table (docs/e2e.md): l1 = L1 on the whole frame only, "
                   "l1+img = + frame discriminator, l1+img+seq = + sequence discriminator (the full model, also "
                   "without --ablation), l1+img+spp = with the variable-length SPP sequence discriminator")
    g.add_argument("--no-frame-disc", action="store_true", default=unset, help="no frame discriminator D_img")
    g.add_argument("--no-seq-disc", action="store_true", default=unset, help="no sequence discriminator D_seq")
    g.add_argument("--spp", action="store_true", default=unset,
                   help="D_seq pools its GRU outputs with a 1-D spatial pyramid (variable length)")
    g.add_argument("--l1-region", choices=("lower", "full"), default=unset,
                   help="L1 on the lower half of the frame (eq. 2, default) or on the whole frame (--ablation l1)")
    g.add_argument("--l1-weight", type=float, default=unset, help="lambda of eq. 3 (400)")
    g.add_argument("--audio-encoder", choices=("raw", "mfcc"), default=unset,
                   help="raw-waveform 1-D convolutions (default) or MFCC encoder")
    g.add_argument("--window", dest="window_s", type=float, default=unset, help="audio window per frame, s (0.16)")
    g.add_argument("--image-size", type=int, default=unset, help="generated frame side, pixels (128)")
    g.add_argument("--base-channels", type=int, default=unset, help="identity encoder / discriminator width (64)")
    g.add_argument("--audio-base-channels", type=int, default=unset, help="audio encoder width (16)")
    g.add_argument("--audio-code-size", type=int, default=unset, help="per-frame audio code (256)")
    g.add_argument("--context-size", type=int, default=unset, help="context GRU size (256)")
    g.add_argument("--disc-frame-code-size", type=int, default=unset, help="D_seq per-frame image code (128)")
    g.add_argument("--disc-audio-code-size", type=int, default=unset, help="D_seq per-frame audio code (128)")
    g.add_argument("--disc-rnn-size", type=int, default=unset, help="D_seq GRU size (256)")
    g.add_argument("--frame-samples", type=int, default=unset, help="frames per video shown to D_img (1)")
    g.add_argument("--lr-frame-disc", dest="lr_frame_discriminator", type=float, default=unset,
                   help="D_img learning rate (1e-3; --lr is the generator's, 2e-4)")
    g.add_argument("--lr-seq-disc", dest="lr_sequence_discriminator", type=float, default=unset,
                   help="D_seq learning rate (5e-5)")
    g.add_argument("--lr-decay-start-epoch", type=int, default=unset,
                   help="G and D_img learning rates decay 10%% per epoch after this one (20)")
    g.add_argument("--min-frames", type=int, default=unset, help="shortest training sequence, frames (16)")
    g.add_argument("--max-frames", type=int, default=unset, help="longest training sequence, frames (32)")
    g.add_argument("--samples-per-clip", type=int, default=unset, help="sequences per clip per epoch (1)")
    g.add_argument("--max-train-clips", type=int, default=unset, help="use at most this many training clips (all)")
    g.add_argument("--max-val-clips", type=int, default=unset, help="validation clips, 0 = none (8)")
    g.add_argument("--still", choices=("neutral", "first"), default=unset,
                   help="identity frame: the clip's neutral frame (default) or its first frame (the paper)")
    g.add_argument("--no-mirror", action="store_true", default=unset, help="no left-right flip augmentation")

    p = sub.add_parser(
        "animate-e2e",
        help="photo + speech -> talking-head video with the end-to-end temporal GAN",
        description="Animate the face of a photo with speech using an end-to-end temporal GAN checkpoint "
        "(talkface train e2e): the aligned face crop and the raw speech go through the generator frame by frame "
        "(constant memory for any length), the generated crops are pasted back into the photo, and the speech is "
        "muxed in. Writes exactly round(duration x fps) frames.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("face", help="photo of one face (jpg/png/...)")
    p.add_argument("speech", help="speech recording (wav/mp3/flac/m4a/ogg, or a video's audio track)")
    p.add_argument("-o", "--output", required=True, help="mp4 to write")
    p.add_argument("--checkpoint", default=None, help="temporal-GAN checkpoint (talkface train e2e) or generator "
                   "file (default: the bundled GRID-trained generator, talkface/assets/e2e)")
    p.add_argument("--seed", type=int, default=0, help="noise seed (spontaneous expressions)")
    p.add_argument("--chunk-frames", type=int, default=25, help="frames generated per network call")
    p.add_argument("--max-duration", dest="max_duration_s", type=float, default=None,
                   help="use at most this many seconds of the speech")
    p.add_argument("--crop-only", action="store_true", help="write the aligned face crops, not the whole photo")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_animate_e2e)

    p = sub.add_parser(
        "evaluate",
        help="score models / generated videos on a prepared test set: the papers' comparison table",
        description="Evaluate talking-head methods on the held-out clips of a prepared dataset (talkface preprocess) "
        "and write REPORT_DIR/report.md (header with this exact command, mean ± std per metric and method, one row "
        "per clip), summary.csv, per_clip.csv, strip.png (real vs generated frames and mouth crops) and "
        "blink_durations.png. Each clip's aligned face crop at the still frame and its speech are given to every "
        "method; the metrics compare the output with the real crops: PSNR, SSIM, LPIPS, CPBD, FDBM, LMD, mouth "
        "correlation, ACD (dlib) and FaceNet identity distance to the still, AV offset / LSE-D / LSE-C (talkface's "
        "own sync model), blink rate and duration, and on GRID clips the word error rate and per-slot accuracy of "
        "talkface's GRID lip reader. The rows always include 'ground truth' (the real frames) and "
        "'still baseline' (the still repeated: a model that does not move). See docs/evaluation.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("data", help="prepared dataset folder (talkface preprocess output, with its crop videos)")
    p.add_argument("--split", default="test",
                   help="clips to evaluate: train, val or test (the dataset's speaker split), or all")
    p.add_argument("--max-clips", type=_positive_int, default=None, help="evaluate only the first N clips of the split")
    p.add_argument("--model", action="append", default=[], metavar="DIR|default",
                   help="model bundle folder to run (talkface animate's model), or 'default' for the bundled model; "
                   "repeatable, one row each")
    p.add_argument("--videos", action="append", default=[], type=_named_folder, metavar="NAME=DIR",
                   help="videos already generated by a method NAME: DIR/<speaker>/<utterance>.mp4 per clip id, "
                   "made from that clip's still and speech; repeatable")
    p.add_argument("-o", "--output", required=True, metavar="REPORT_DIR", help="folder for the report files")
    p.add_argument("--seed", type=int, default=0, help="seed of Python/NumPy/torch before each model call "
                   "(clip i runs with seed + i) and of the models' blink noise")
    p.add_argument("--still", choices=("first", "neutral"), default="first",
                   help="identity frame given to the methods: the clip's first frame (the papers) or its neutral frame")
    p.add_argument("--lpips-stride", type=_positive_int, default=5,
                   help="LPIPS on every k-th frame (~0.5 s per 128 px frame pair on one CPU core)")
    p.add_argument("--identity-stride", type=_positive_int, default=1, help="ACD / FaceNet on every k-th frame")
    p.add_argument("--no-lpips", action="store_true", help="skip LPIPS (the slowest metric on CPU)")
    p.add_argument("--no-identity", action="store_true", help="skip the ACD / FaceNet identity metrics")
    p.add_argument("--no-sync", action="store_true", help="skip AV offset / LSE-D / LSE-C")
    p.add_argument("--sync-model", default=None, help="sync model file (default: the bundled assets/syncnet.pt)")
    p.add_argument("--no-lipread", action="store_true", help="skip the lip reader's WER / per-slot accuracy")
    p.add_argument("--no-render-metrics", action="store_true",
                   help="skip the rendering columns (face sharpness / real, colour change outside mouth and eyes, "
                   "rendered / requested mouth opening, mouth-crop LPIPS)")
    p.add_argument("--lipreader", default=None,
                   help="lip reader file (default: the bundled assets/lipreader.pt; talkface train lipread)")
    p.add_argument("--motion-scale", type=_motion_scale, default=1.0, help="--model runs: " + MOTION_SCALE_HELP)
    p.add_argument("--keep-open-mouth", action="store_true", help="--model runs: " + KEEP_OPEN_HELP)
    p.add_argument("--head-motion", type=_head_motion, default=1.0, help="--model runs: " + HEAD_MOTION_HELP)
    p.add_argument("--raw-mouth", action="store_true", help="--model runs: " + RAW_MOUTH_HELP)
    p.add_argument("--renderer", choices=("native", "crop"), default="native", help="--model runs: " + RENDERER_HELP)
    p.add_argument("--device", default="cpu", help="torch device of the models, LPIPS and the sync model")
    p.add_argument("--threads", type=_positive_int, default=None, help="torch CPU threads")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "serve",
        help="web page + HTTP API: upload a face photo and speech, get the talking-head mp4",
        description="Start a local web server: a page to upload (or record) speech and a face photo, choose the "
        "blink rate and output size, follow progress and play/download the video; and a JSON API (POST /v1/animate "
        "-> job id, GET /v1/jobs/ID, GET /v1/jobs/ID/video; OpenAPI schema at /openapi.json). Jobs run in a "
        "bounded pool of workers, each with the models loaded once; uploads are checked from their bytes and "
        "limited in size, duration and pixels; each job's files are deleted --job-ttl-minutes after it ends.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 = every interface)")
    p.add_argument("--port", type=int, default=8000, help="TCP port")
    p.add_argument("--workers", type=_positive_int, default=1, help="jobs animated at once (models loaded per worker)")
    p.add_argument("--max-queued", type=_positive_int, default=32, help="jobs allowed to wait; more get HTTP 503")
    p.add_argument("--max-upload-mb", type=float, default=32.0, help="largest accepted file, MiB")
    p.add_argument("--max-audio-seconds", type=float, default=120.0, help="longest accepted speech, seconds")
    p.add_argument("--max-image-megapixels", type=float, default=40.0, help="largest accepted photo, megapixels")
    p.add_argument("--job-ttl-minutes", type=float, default=60.0, help="minutes a finished job's video is kept")
    p.add_argument("--work-dir", default=None, help="folder for the jobs' files (default: a temporary folder)")
    p.add_argument("--model", default=None, help="model bundle folder (default: the bundled model)")
    p.add_argument("--threads", type=_positive_int, default=None, help="torch CPU threads per worker")
    p.add_argument("--token", default=None,
                   help="API token: requests to /v1/ need 'Authorization: Bearer TOKEN' (the page gets it from the "
                   "link printed at start-up); default: the environment variable TALKFACE_SERVE_TOKEN, else none")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests for this Host name (e.g. the public name behind a reverse proxy; '*' "
                   "= any); others are refused, which stops DNS-rebinding attacks from web pages; repeatable")
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="also accept job submissions from pages of this origin (e.g. https://app.example; '*' = "
                   "any); by default other web sites cannot submit or delete jobs; repeatable")
    p.add_argument("--client-timeout", type=float, default=30.0,
                   help="seconds a client may pause while uploading before it is cut off (HTTP 408)")
    p.add_argument("--queue", default=None, metavar="URL",
                   help="redis://HOST:PORT/DB: keep jobs in Redis and run them on 'talkface worker' processes (any "
                   "machine that sees --work-dir) instead of in this server (needs pip install 'talkface[redis]')")
    p.add_argument("--queue-retries", type=int, default=1, help="with --queue: times a job is queued again after "
                   "the worker running it died")
    p.add_argument("--queue-lease-s", type=float, default=30.0, help="with --queue: seconds without a heartbeat "
                   "after which a worker counts as dead")
    p.add_argument("--max-live-sessions", type=_positive_int, default=1,
                   help="live sessions (page /live, WebSocket /v1/live) at once; more are told the server is busy")
    p.set_defaults(func=_cmd_serve)

    from talkface.batch.command import add_parser as add_batch_parser

    add_batch_parser(sub)

    p = sub.add_parser(
        "worker", help="run the jobs of a 'talkface serve --queue redis://...' server, on this machine or another",
        description="Take animation jobs from the Redis queue of 'talkface serve --queue redis://HOST:PORT/DB' and "
        "run them, one at a time, with the models loaded once. --work-dir is the server's job folder as this "
        "machine sees it (a shared folder). Start as many workers, on as many machines, as you like. A worker that "
        "is killed stops sending heartbeats; after --lease-s seconds its job goes back to the queue (or, when "
        "workers died holding it more than the server's --queue-retries times, the job fails saying so). Ctrl-C or "
        "SIGTERM hands the job in hand back to the queue at once.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--queue", required=True, metavar="URL", help="Redis URL, redis://HOST:PORT/DB")
    p.add_argument("--work-dir", required=True, help="the server's job folder (shared), as seen from this machine")
    p.add_argument("--model", default=None, help="model bundle folder (default: the bundled model)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--max-audio-seconds", type=float, default=120.0, help="longest speech accepted, seconds")
    p.add_argument("--lease-s", type=float, default=30.0,
                   help="seconds without a heartbeat after which this worker counts as dead")
    p.add_argument("--prefix", default="talkface", help="Redis key prefix (the server's)")
    p.add_argument("--max-jobs", type=int, default=None, help="exit after this many jobs")
    p.set_defaults(func=_cmd_worker)

    from talkface.live.command import add_parser as add_live_parser

    add_live_parser(sub, _positive_int).set_defaults(func=_cmd_live)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``talkface`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.func
    try:
        return handler(args)
    except TalkfaceError as exc:
        print(f"talkface: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        from talkface.config_checks import environment_error

        message = environment_error(exc)
        if message is None:
            raise
        print(f"talkface: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("talkface: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
