"""The ``talkface`` command: parses arguments and calls the package; no logic of its own.

Any problem with the user's input is printed as one line (``talkface: error: <file>: <problem>``,
or ``<--option>: <problem>``: values are checked by :mod:`talkface.config_checks` before any model
loads) with exit status 2, never as a traceback; a problem of the machine (full disk, no
permission) is one line with exit status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from talkface.audio.background import exit_promptly
from talkface.cli_groups import ADAPT, ADAPT_SOURCE, ANIMATE, PREPROCESS, animate_kwargs
from talkface.cli_options import config_kwargs, handlers_of, source_fields
from talkface.cli_parser import (
    E2E,
    EVALUATE,
    LAMBDA_GAN,
    LGAN,
    LIPREAD,
    LIPREAD_SOURCE,
    SERVE,
    SYNC,
    SYNC_SOURCES,
    TEXTURE,
    TRAIN,
    WORKER,
    build,
)
from talkface.cli_parser import evaluate_command as _evaluate_command
from talkface.config_checks import check_device, check_fields, check_output_file, check_value, environment_error
from talkface.errors import InputError, TalkfaceError
from talkface.interrupt import Terminated, terminate_as_interrupt
from talkface.io.ahead import FRAMES_AHEAD, made_ahead
from talkface.live.command import run as run_live

if TYPE_CHECKING:
    from talkface.train.core import TrainConfig

Handler = Callable[[argparse.Namespace], int]


def _cmd_preprocess(args: argparse.Namespace) -> int:
    from talkface.data.dataset import PreparedDataset  # lazy: loads numpy
    from talkface.data.preprocess import PreprocessConfig, preprocess  # lazy: loads numpy, tqdm
    from talkface.data.preview import render_preview  # lazy: loads numpy

    config = PreprocessConfig(**config_kwargs(PreprocessConfig, PREPROCESS, args))
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
    from talkface.data.dataset import PreparedDataset, load_clip  # lazy: loads numpy
    from talkface.data.preview import render_preview  # lazy: loads numpy

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


def _train_config_from_args(args: argparse.Namespace) -> TrainConfig:
    from talkface.train.core import TrainConfig  # lazy: loads lightning, torch

    return TrainConfig(**config_kwargs(TrainConfig, TRAIN, args))


def _cmd_train_lgan(args: argparse.Namespace) -> int:
    """`talkface train motion|regression`: the l-GAN (or its regression-only ablation)."""
    from talkface.motion.data import MotionDataConfig  # lazy: loads lightning, torch
    from talkface.motion.lgan import LGANConfig, train_lgan  # lazy: loads lightning, torch

    # the rows of LGAN (and motion's --lambda-gan) that name an LGANConfig field; regression: no D_L, no lambda_gan
    model = LGANConfig(**config_kwargs(LGANConfig, [*LGAN, LAMBDA_GAN], args),
                       regression_only=args.model == "regression")
    init = _bundle_part(args.init, "lgan") if args.init else None
    print(train_lgan(args.output, MotionDataConfig(roots=tuple(args.data)), _train_config_from_args(args), model,
                     init=init))
    return 0


def _cmd_train_blink(args: argparse.Namespace) -> int:
    """`talkface train blink`: the blink generator G_B."""
    from talkface.motion.blink import train_blink  # lazy: loads lightning, torch
    from talkface.motion.data import BlinkDataConfig  # lazy: loads lightning, torch

    print(train_blink(args.output, BlinkDataConfig(roots=tuple(args.data)), _train_config_from_args(args)))
    return 0


def _cmd_train_sync(args: argparse.Namespace) -> int:
    """`talkface train sync`: the lip-sync model the evaluation's AV offset / LSE-D / LSE-C use."""
    from talkface.eval.sync import SyncNetConfig, SyncNetDataConfig, train_syncnet  # lazy: loads torch, cv2

    files = [f for f in (args.init, args.realign_with, args.warm_start, args.exclude_file) if f]
    for path in [*args.data, *files]:
        if not Path(path).exists():
            raise InputError(path, "not found")
    exclude = list(args.exclude)
    if args.exclude_file:
        exclude += Path(args.exclude_file).read_text().split()
    # every SYNC row naming a field of the configs or a keyword of train_syncnet (init, clip counts, realign_with,
    # warm_start); --windows-per-item's default is SYNC_PRESETS'
    given = config_kwargs(source_fields(SYNC_SOURCES[2]), SYNC, args)
    result = train_syncnet(
        args.data[0], args.output, train_config=_train_config_from_args(args), extra_train=args.data[1:],
        data_config=SyncNetDataConfig(**config_kwargs(SyncNetDataConfig, SYNC, args)),
        config=SyncNetConfig(**config_kwargs(SyncNetConfig, SYNC, args)), **{**given, "exclude": exclude},
    )
    print(result.model_path)
    for key, value in result.validation.items():
        print(f"  {key}: {value:.3f}")
    return 0


def _cmd_train_lipread(args: argparse.Namespace) -> int:
    """`talkface train lipread`: the GRID lip reader behind the evaluation's WER."""
    from talkface.eval.lipread_train import train_lipreader  # lazy: loads lightning, torch

    lists = {}
    for name in ("train_list", "val_list", "exclude_file"):
        path = getattr(args, name)
        if path:
            if not Path(path).is_file():
                raise InputError(path, "not found")
            lists[name] = Path(path).read_text().split()
    if len(args.data) != 1:
        raise InputError(args.data[1], "the lip reader trains on one prepared dataset")
    given = config_kwargs(source_fields(LIPREAD_SOURCE), LIPREAD, args)  # --cache: cache_dir
    result = train_lipreader(
        args.data[0], args.output, train_config=_train_config_from_args(args), train_ids=lists.get("train_list"),
        val_ids=lists.get("val_list"), progress=not args.quiet,
        **{**given, "exclude": [*args.exclude, *lists.get("exclude_file", [])]},
    )
    print(f"{result.model_path} ({result.train_clips} train clips, {result.val_clips} val clips, "
          f"weights of {result.checkpoint.name})")
    return 0


def _cmd_train_texture(args: argparse.Namespace) -> int:
    """`talkface train texture`: a texture generator (--variant), optionally MAML meta-trained."""
    from talkface.texture.data import TextureDataConfig  # lazy: loads lightning, torch
    from talkface.texture.networks import generator_config  # lazy: loads torch
    from talkface.texture.tgan import TextureConfig, init_config, train_texture  # lazy: loads lightning, torch

    # every TEXTURE row naming a field (defaults: the configs', except TEXTURE_PRESETS); --variant names a generator
    fields = config_kwargs(TextureConfig, TEXTURE, args)
    train = _train_config_from_args(args)
    init = _bundle_part(args.init, "texture") if args.init else None
    if init is not None:
        if args.meta:
            raise InputError(args.init, "--init fine-tunes a generator; MAML meta-training (--meta) starts afresh")
        model = init_config(init, adversarial=fields["adversarial"])
    else:
        try:
            model = generator_config(fields.pop("variant"), **fields)
        except ValueError as exc:  # --map-size that does not fit --size
            raise InputError(None, str(exc)) from exc
    # the command trains on every clip with no validation split, in long epochs
    data = TextureDataConfig(**config_kwargs(TextureDataConfig, TEXTURE, args), roots=tuple(args.data),
                             temporal=model.variant != "adain" and not args.no_temporal, val_split=None,
                             samples_per_epoch=100_000)
    if args.meta:
        from talkface.texture.meta import MetaTextureConfig, meta_train_texture  # lazy: loads lightning, torch

        meta = MetaTextureConfig(**{f: getattr(model, f) for f in model.__dataclass_fields__})
        print(meta_train_texture(args.output, data, meta, train))
    else:
        print(train_texture(args.output, data, model, train, sample_every=args.sample_every, init=init))
    return 0


def _bundle_part(spec: str, part: str) -> Path:
    """``--init`` of `talkface train texture|motion|regression`: a checkpoint/export file, or the ``part``
    (``"texture"``, ``"lgan"``) of a model bundle folder or of the shipped model ('default')."""
    from talkface.pipeline import DEFAULT_MODEL, read_bundle_info  # lazy: loads torch

    path = DEFAULT_MODEL if spec == "default" else Path(spec)
    if path.is_dir():
        return path / str(read_bundle_info(path)[part])
    if not path.is_file():
        raise InputError(path, "not found")
    return path


def _cmd_evaluate_motion(args: argparse.Namespace) -> int:
    import torch

    from talkface.eval.motion_metrics import (  # lazy: loads numpy
        blink_statistics,
        dataset_blink_statistics,
        evaluate_motion,
    )
    from talkface.models import load_lgan_net as load_lgan  # lazy: loads torch (checkpoints and ensembles)
    from talkface.motion.blink import load_blink  # lazy: loads lightning, torch

    if args.threads:
        torch.set_num_threads(args.threads)
    models: dict[str, object] = {"static-neutral": None}
    models.update({("default" if p == "default" else Path(p).parent.name or p): load_lgan(_bundle_part(p, "lgan"))
                   for p in (args.lgan or (["default"] if args.liveliness else []))})
    if args.liveliness:
        from talkface.eval.liveliness import evaluate_liveliness, summarise  # lazy: loads numpy

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

    from talkface.face.draw import draw_landmarks  # lazy: loads cv2
    from talkface.models import load_lgan_net as load_lgan  # lazy: loads torch (checkpoints and ensembles)
    from talkface.motion.blink import load_blink  # lazy: loads lightning, torch
    from talkface.motion.render import plot_mouth_vs_energy, predict_landmarks  # lazy: loads torch, cv2
    from talkface.photo_video import (  # lazy: loads numpy
        DEFAULT_MAX_SIDE,
        check_paths,
        prepare_photo,
        read_speech,
        write_frames,
    )

    check_fields(args, ("blink_rate", "seed", "max_duration_s", "threads"))
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
    with made_ahead(drawn, FRAMES_AHEAD) as ahead:  # drawn in a thread of their own beside the encoder
        write_frames(args.output, ahead, fps, audio=audio, total=len(landmarks))
    print(f"{args.output}: {len(landmarks)} frames at {fps:g} fps")
    reference = None
    if (args.plot or args.strip) and Path(args.speech).suffix.lower() in (".mp4", ".mov", ".mkv", ".m4v", ".mpg",
                                                                            ".mpeg", ".avi", ".webm"):
        # the speech is a video of a speaker: their tracked landmarks are the reference
        from talkface.face.landmarks import track_landmarks
        from talkface.io.media import read_video  # lazy: loads av

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
        from talkface.motion.render import plot_landmark_strip  # lazy: loads torch, cv2

        plot_landmark_strip(args.strip, landmarks, fps, reference=reference)
        print(args.strip)
    return 0


def _cmd_train_e2e(args: argparse.Namespace) -> int:
    """`talkface train e2e`: the end-to-end temporal GAN (only the e2e options given override its config)."""
    from talkface.e2e import E2EConfig, E2EDataConfig, ablation_config, train_e2e  # lazy: loads lightning, torch

    train = _train_config_from_args(args)
    given = vars(args)
    # the E2E rows that were given (the others are absent: the config's, or the ablation's, values apply)
    model = config_kwargs(E2EConfig, E2E, args)
    if given.get("spp"):
        model["sequence_discriminator"] = "spp"
    data = config_kwargs(E2EDataConfig, E2E, args)
    try:
        model_config = ablation_config(given["ablation"], **model) if "ablation" in given else E2EConfig(**model)
        data_config = E2EDataConfig(root=args.data[0], extra_roots=tuple(args.data[1:]), **data)
    except ValueError as exc:
        raise InputError(None, str(exc)) from exc
    init = given.get("init")
    if init is not None and not Path(init).is_file():
        raise InputError(init, "checkpoint not found")
    print(train_e2e(args.output, data_config, model_config, train, init=init))
    return 0


def _cmd_animate_e2e(args: argparse.Namespace) -> int:
    import torch

    from talkface.e2e import animate_e2e  # lazy: loads lightning, torch
    from talkface.photo_video import check_paths  # lazy: loads numpy

    check_fields(args, ("seed", "chunk_frames", "max_duration_s", "threads"))
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


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import torch

    from talkface.eval.report import (  # lazy: loads cv2
        GROUND_TRUTH,
        STILL_BASELINE,
        EvalConfig,
        check_sources,
        dataset_clip_ids,
        evaluate_videos,
    )

    check_device(args.device)
    config = EvalConfig(**config_kwargs(EvalConfig, EVALUATE, args))  # every row naming an EvalConfig field
    if args.threads:
        torch.set_num_threads(args.threads)
    _, ids = dataset_clip_ids(args.data, args.split, args.max_clips)  # bad data / split: fail before loading models
    if config.whole_frames:
        check_sources(args.data, ids)  # a missing source video: fail before loading models too
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise InputError(out, "report folder is a file")
    if args.sync_model and not Path(args.sync_model).is_file():
        raise InputError(args.sync_model, "sync model not found")
    if args.lipreader and not args.no_lipread:
        from talkface.eval.lipread import load_lipreader  # lazy: loads torch, cv2

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
            from talkface.pipeline import AnimateConfig, Animator  # lazy: loads torch
        except ModuleNotFoundError as exc:
            if exc.name != "talkface.pipeline":
                raise
            raise InputError(None, "--model needs talkface.pipeline, which this installation lacks; evaluate "
                             "videos generated elsewhere with --videos NAME=DIR") from exc
        for spec in args.model:
            default = spec == "default"
            # every EVALUATE row naming an AnimateConfig field reaches it (--model: one config per bundle)
            animator = Animator(AnimateConfig(**{**animate_kwargs(EVALUATE, args),
                                                 "model": None if default else spec}))
            label = "talkface (default model)" if default else Path(spec).resolve().name
            models[method_name(label)] = animator.talking_head
    table = evaluate_videos(dataset=args.data, split=args.split, models=models, generated=generated, out_dir=out,
                            config=config, command=_evaluate_command(args), progress=not args.quiet)
    print(table.to_markdown(per_clip=False))
    print(f"{len(ids)} clip(s) -> {out / 'report.md'}, summary.csv, per_clip.csv, strip.png, blink_durations.png")
    return 0


def _cmd_animate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.model is None:  # the shipped bundle's speech encoder loads in the background while torch imports
        from talkface.audio.features import preload_whisper_model  # lazy: loads numpy

        preload_whisper_model("tiny.en")
    from talkface.pipeline import AnimateConfig, Animator, check_paths, read_bundle_info  # lazy: loads torch

    # every row of the ANIMATE table that names an AnimateConfig field reaches the config (a new option
    # cannot be parsed and then dropped); a negative blink rate means the model's natural rate
    config = AnimateConfig(**animate_kwargs(ANIMATE, args))
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
    from talkface.serve import ServeConfig, serve  # lazy: loads fastapi, starlette
    from talkface.serve.guard import is_loopback  # lazy: loads fastapi, starlette

    for name in ("max_upload_mb", "max_image_megapixels", "job_ttl_minutes"):  # units ServeConfig does not check
        check_value(name, getattr(args, name))
    if args.work_dir and Path(args.work_dir).exists() and not Path(args.work_dir).is_dir():
        raise InputError(args.work_dir, "work folder is a file")
    if args.model is not None:
        from talkface.pipeline import read_bundle_info  # lazy: loads torch

        read_bundle_info(Path(args.model))
    token = args.token if args.token is not None else os.environ.get("TALKFACE_SERVE_TOKEN") or None
    config = ServeConfig(**{**config_kwargs(ServeConfig, SERVE, args), "token": token})
    if args.queue:
        if not args.work_dir:
            raise TalkfaceError("--queue needs --work-dir: the job folder the workers see too")
        from talkface.serve.redis_queue import connect  # lazy: loads fastapi, starlette

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
    from talkface.serve import ServeConfig  # lazy: loads fastapi, starlette
    from talkface.serve.redis_queue import run_worker_command  # lazy: loads fastapi, starlette

    return run_worker_command(args, ServeConfig(**config_kwargs(ServeConfig, WORKER, args)))


def _cmd_adapt(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from talkface.pipeline import adapt_person  # lazy: loads torch

    bars: list[tqdm] = []  # made at the first step: a refused argument prints only its one-line error

    def progress(stage: str, fraction: float) -> None:
        if not bars:
            bars.append(tqdm(total=args.steps, unit="step", desc="adapt", disable=args.quiet, dynamic_ncols=True))
        bars[0].n = round(fraction * args.steps)
        bars[0].refresh()

    try:
        # every ADAPT row naming a keyword of adapt_person (model, frames, steps, lr, seed, threads)
        facts = adapt_person(args.inputs, args.output, **config_kwargs(source_fields(ADAPT_SOURCE), ADAPT, args),
                             progress=progress)
    finally:
        for bar in bars:
            bar.close()
    print(f"{args.output}: adapted on K={facts['K']} frames, {facts['steps']} steps in {facts['seconds']:.1f} s "
          f"(loss {facts['loss_first']:.4f} -> {facts['loss_last']:.4f})")
    return 0


def _cmd_bundle(args: argparse.Namespace) -> int:
    from talkface.pipeline import make_bundle  # lazy: loads torch

    out = make_bundle(args.output, args.lgan, args.texture, args.blink, name=args.name, half=not args.fp32,
                      card=args.card, stream_motion=args.stream_motion)
    size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    print(f"{out}: model bundle, {size:.1f} MB; use it with: talkface animate FACE SPEECH -o OUT.mp4 --model {out}")
    return 0


def _cmd_live(args: argparse.Namespace) -> int:
    return run_live(args)


def build_parser() -> argparse.ArgumentParser:
    """The full ``talkface`` argument parser (every subcommand; options from the configs' fields)."""
    return build(handlers_of(globals()))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``talkface`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.func
    try:
        with terminate_as_interrupt():  # kill/timeout clean up like Ctrl-C (no temporary file left)
            return handler(args)
    except TalkfaceError as exc:
        print(f"talkface: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        message = environment_error(exc)
        if message is None:
            raise
        print(f"talkface: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"talkface: {'terminated' if isinstance(exc, Terminated) else 'interrupted'}", file=sys.stderr)
        status = 143 if isinstance(exc, Terminated) else 130
        exit_promptly(status)  # at exit, busy speech-feature threads are not waited for (Ctrl-C took 5-17 s)
        return status


if __name__ == "__main__":
    sys.exit(main())
