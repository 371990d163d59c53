"""The ``talkface`` argument parser: :func:`build`, and the train, evaluate and serve command groups.

The animate, data and motion groups and the shared option tables are in :mod:`talkface.cli_groups`;
:mod:`talkface.cli_options` turns config fields into options. Each table lists a command's options
as :class:`~talkface.cli_options.Opt` rows: the config field, its spelling and its help; defaults,
types and ranges come from the config dataclass and :data:`talkface.config_checks.LIMITS`.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import replace
from typing import Any

from talkface import __version__
from talkface.batch.command import add_parser as add_batch_parser
from talkface.cli_groups import (
    _FORMAT,
    COMMANDS,
    MOTION_COMMANDS,
    QUIET,
    RENDERER,
    THREADS,
    Command,
    Handlers,
    _devices,
    _named_folder,
    add_commands,
    motion_opts,
    positive_int,
)
from talkface.cli_options import LazySubParsers, Opt, add_options, lazy_options, lazy_subparsers, source_fields
from talkface.config_checks import DEFAULT_MAX_SIDE, number_arg
from talkface.live.command import add_parser as add_live_parser

#: Options of every `talkface train MODEL` command: fields of talkface.train.core.TrainConfig.
TRAIN = [
    Opt("output", "run folder (resumed from its last.ckpt if present)", short="-o", required=True),
    Opt("max_steps", "training batches in total", flag="--steps"),
    Opt("batch_size", "samples per batch per device"),
    Opt("lr", "Adam learning rate"),
    Opt("seed", "random seed"),
    Opt("accelerator", "cpu, gpu, auto"),
    Opt("devices", "device count or 'auto'", type=_devices),
    Opt("strategy", "Lightning strategy (auto, ddp, ...)"),
    Opt("precision", "auto (32-bit), bf16-mixed, 16-mixed"),
    Opt("num_nodes", "machines (multi-node DDP)"),
    Opt("num_workers", "data-loader worker processes", flag="--loader-workers"),
    Opt("num_threads", "torch CPU threads (default: torch's choice)", flag="--threads"),
    Opt("checkpoint_every_n_steps", "write step=N.ckpt every N batches", flag="--checkpoint-every"),
    Opt("log_every_n_steps", "log losses every N batches", flag="--log-every"),
    Opt("val_every_n_steps", "validate every N batches (scores in metrics.csv) and keep the best weights in "
        "best.ckpt: lowest val/lmd (motion, regression), highest val/psnr (texture, e2e), lowest val/mmd_sequence "
        "(blink)", flag="--val-every"),
    Opt("max_minutes", "stop after this many minutes of training (last.ckpt is written; run again to resume)"),
    Opt("progress_bar", "no progress bar", flag="--quiet", short="-q"),
]

_INIT_HELP = ("fine-tune: start {what}from this {model} (a checkpoint, a model bundle folder or 'default' for the "
              "shipped one)")

LGAN = [
    Opt("temporal_loss", "eq. 2 as written (smooth) or the identity paper's eq. 3 (match the truth's motion)",
        choices=("smooth", "match")),
    Opt("init", _INIT_HELP.format(what="G_L ", model="motion model") + ", e.g. on a new speaker's clips; its "
        "architecture and speech feature are kept (the data must use the same --feature), D_L starts afresh",
        metavar="CKPT|BUNDLE|default"),
]
LAMBDA_GAN = Opt("lambda_gan", "weight of the adversarial loss (eq. 5; the paper's 1, docs/motion.md compares 0.25)")

#: `talkface train texture`'s presets that differ from TextureConfig / TextureDataConfig, on purpose: the shipped
#: model's generator ('warp', 16 channels, maps at 64 px around the mouth and eyes) and references from the target's
#: own clip; the configs keep their library defaults.
TEXTURE_PRESETS = {"variant": "warp", "base_channels": 16, "map_region": "parts", "map_size": 64,
                   "references_from": "clip"}

#: `talkface train texture`: fields of TextureConfig (--variant names a generator: texture.networks.generator_config),
#: TextureDataConfig and keyword arguments of train_texture; defaults from there, except TEXTURE_PRESETS.
TEXTURE = [
    Opt("variant", "generator", choices=("warp", "attention", "adain"), default=TEXTURE_PRESETS["variant"]),
    Opt("image_size", "crop side, pixels", flag="--size", choices=(128, 256)),
    Opt("base_channels", "base channels (8-16 on a CPU, 32-64 on a GPU)", flag="--channels",
        default=TEXTURE_PRESETS["base_channels"]),
    Opt("map_region", "warp variant: the colour map acts only around the mouth and eyes (parts) or anywhere (all)",
        choices=("parts", "all"), default=TEXTURE_PRESETS["map_region"]),
    Opt("map_size", "attention variants: side the maps are predicted at (0: --size; 64 at 128 is ~4x faster)",
        default=TEXTURE_PRESETS["map_size"]),
    Opt("num_references", "reference images per sample", flag="--references"),
    Opt("references_from", "draw references from the target's own clip (same lighting, like a user's photo) or any "
        "clip of the speaker", choices=("clip", "speaker"), default=TEXTURE_PRESETS["references_from"]),
    Opt("frames_per_clip", "frames kept per clip (0: all)"),
    Opt("meta", "MAML meta-training (adain variant)", action="store_true"),
    Opt("adversarial", "no discriminator: the regression-only generator (ablation; ~2x cheaper per step)"),
    Opt("no_temporal", "attention variants: no frame pairs, so no temporal regularisation (eq. 12; 2x cheaper)",
        action="store_true"),
    Opt("sample_every", "write samples/step=N.png every N batches"),
    Opt("init", _INIT_HELP.format(what="", model="texture generator") + "; its "
        "architecture replaces --variant/--size/--channels/--map-*", metavar="CKPT|BUNDLE|default"),
]
#: Where the TEXTURE rows take their defaults (and config_kwargs its fields) from.
TEXTURE_SOURCES = ("talkface.texture.networks:TextureConfig", "talkface.texture.data:TextureDataConfig",
                   "talkface.texture.tgan:train_texture")

_EXCLUDE = "utterance never trained on (repeatable), e.g. "

#: `talkface train sync`'s one preset that differs from its config, on purpose: 16 windows per item (the bundled sync
#: model's stage-2 recipe, docs/evaluation.md); SyncNetDataConfig keeps its own, smaller library default.
SYNC_PRESETS = {"windows_per_item": 16}

#: `talkface train sync`: fields of SyncNetDataConfig, SyncNetConfig and keyword arguments of train_syncnet
#: (defaults from there, except SYNC_PRESETS).
SYNC = [
    Opt("init", "start from this sync model file (e.g. the bundled one)"),
    Opt("windows_per_item", "consecutive 5-frame windows per training item (this command's preset, the bundled "
        "model's recipe; SyncNetDataConfig's own default is smaller)", default=SYNC_PRESETS["windows_per_item"]),
    Opt("max_train_clips", "use at most this many training clips (all)"),
    Opt("max_val_clips", "validation clips"),
    Opt("exclude", _EXCLUDE + "a held-out evaluation clip", action="append", metavar="UTTERANCE"),
    Opt("exclude_file", "text file of utterances never trained on"),
    Opt("realign_with", "sync model used to remove each training clip's own sub-frame offset first"),
    Opt("audio_context", "frames of audio heard beyond each side of the 5-frame mouth window (ignored with --init)"),
    Opt("warm_start", "sync model file whose layers start the new model where the architectures agree"),
]
#: Where the SYNC rows take their defaults (and config_kwargs its fields) from.
SYNC_SOURCES = ("talkface.eval.sync.data:SyncNetDataConfig", "talkface.eval.sync.network:SyncNetConfig",
                "talkface.eval.sync.train:train_syncnet")

#: `talkface train lipread`: the id lists are files read by the command (train_lipreader's train_ids, val_ids,
#: exclude); --cache is train_lipreader's cache_dir (default from there).
LIPREAD = [
    Opt("train_list", "text file of clip ids to train on (default: 'train' split)"),
    Opt("val_list", "text file of clip ids to validate on (default: 'val' split)"),
    Opt("exclude", _EXCLUDE + "a test fixture clip", action="append", metavar="UTTERANCE"),
    Opt("exclude_file", "text file of utterances or clip ids never trained on"),
    Opt("cache_dir", "mouth-crop cache folder (default: OUTPUT/cache; reused)", flag="--cache"),
]

LIPREAD_SOURCE = "talkface.eval.lipread_train:train_lipreader"

#: `talkface train e2e`: only the options given override E2EConfig / E2EDataConfig (the paper's values).
E2E = [
    Opt("use_frame_discriminator", "no frame discriminator D_img", flag="--no-frame-disc"),
    Opt("use_sequence_discriminator", "no sequence discriminator D_seq", flag="--no-seq-disc"),
    Opt("spp", "D_seq pools its GRU outputs with a 1-D spatial pyramid (variable length)", action="store_true"),
    Opt("l1_region", "L1 on the lower half of the frame (eq. 2, default) or on the whole frame (--ablation l1)",
        choices=("lower", "full")),
    Opt("l1_weight", "lambda of eq. 3 ({default})"),
    Opt("output_mode", "generator output: the frame itself (the paper, default) or the still + a masked residual "
        "(keeps the still's pixels where speech does not change them)", choices=("direct", "residual")),
    Opt("mask_weight", "mask sparsity penalty of the residual output ({default})"),
    Opt("mouth_weight", "extra L1 weight inside each real frame's soft mouth mask (outer lips and the jaw below, "
        "from its landmarks): a pixel there counts 1 + this ({default} = plain L1)"),
    Opt("init", "fine-tune: start from this e2e training checkpoint's weights (fresh optimisers, batch 0); its "
        "architecture options must be repeated, loss options may differ", metavar="CKPT", type=str),
    Opt("audio_encoder", "raw-waveform 1-D convolutions (default) or MFCC encoder", choices=("raw", "mfcc")),
    Opt("window_s", "audio window per frame, s ({default})", flag="--window", dest="window_s"),
    Opt("image_size", "generated frame side, pixels ({default})"),
    Opt("base_channels", "identity encoder / discriminator width ({default})"),
    Opt("audio_base_channels", "audio encoder width ({default})"),
    Opt("audio_code_size", "per-frame audio code ({default})"),
    Opt("context_size", "context GRU size ({default})"),
    Opt("disc_frame_code_size", "D_seq per-frame image code ({default})"),
    Opt("disc_audio_code_size", "D_seq per-frame audio code ({default})"),
    Opt("disc_rnn_size", "D_seq GRU size ({default})"),
    Opt("frame_samples", "frames per video shown to D_img ({default})"),
    Opt("lr_frame_discriminator", "D_img learning rate ({default}; --lr is the generator's, 2e-4)",
        flag="--lr-frame-disc", dest="lr_frame_discriminator"),
    Opt("lr_sequence_discriminator", "D_seq learning rate ({default})", flag="--lr-seq-disc",
        dest="lr_sequence_discriminator"),
    Opt("lr_decay_start_epoch", "G and D_img learning rates decay 10%% per epoch after this one ({default})"),
    Opt("min_frames", "shortest training sequence, frames ({default})"),
    Opt("max_frames", "longest training sequence, frames ({default})"),
    Opt("samples_per_clip", "sequences per clip per epoch ({default})"),
    Opt("max_train_clips", "use at most this many training clips (all)", type=int),
    Opt("max_val_clips", "validation clips, 0 = none ({default})", type=int),
    Opt("still", "identity frame: the clip's neutral frame (default) or its first frame (the paper)",
        choices=("neutral", "first")),
    Opt("mirror", "no left-right flip augmentation"),
    Opt("augment", "identity augmentation: one random colour/hue/contrast/scale/shift change per sample, the same "
        "for the still and its frames, and a random audio gain", action="store_true"),
]


def add_train_command(sub: LazySubParsers, handlers: Handlers) -> None:
    """`talkface train MODEL`: one sub-command per model, each with the TrainConfig options and its own."""
    p = sub.add_parser(
        "train", formatter_class=_FORMAT,
        help="train a model: motion (l-GAN), regression (its ablation), blink, texture, e2e, sync or lipread",
        description="Train on prepared datasets (talkface preprocess). Every model writes last.ckpt, step=N.ckpt, "
        "config.json and metrics.csv into --output and resumes from last.ckpt; --devices/--strategy/--num-nodes give "
        "multi-GPU and multi-node DDP with no code change. 'talkface train MODEL --help' lists a model's options.",
    )
    models = lazy_subparsers(p, dest="model", required=True, metavar="MODEL")

    def model(name: str, summary: str, description: str, preset: tuple[int, int, float], own: Any = None,
              data_help: str = "prepared dataset folder(s)") -> None:
        def fill(mp: argparse.ArgumentParser) -> None:
            defaults = dict(zip(("max_steps", "batch_size", "lr"), preset, strict=True))
            add_options(mp, [Opt("data", data_help, flag="", nargs="+")])
            add_options(mp, [replace(o, default=defaults.get(o.name, o.default)) for o in TRAIN],
                        source_fields("talkface.train.core:TrainConfig"))
            if own is not None:
                own(mp)

        handler = {"motion": "train_lgan", "regression": "train_lgan"}.get(name, "train_" + name)
        models.add_parser(name, help=summary, description=description, formatter_class=_FORMAT,
                          populate=fill).set_defaults(func=handlers[handler])

    for name, summary in (("motion", "l-GAN: speech -> canonical landmark motion (G_L + D_L, eq. 1-5)"),
                          ("regression", "G_L alone, no discriminator (the l-GAN's ablation baseline)")):
        model(name, summary, f"{summary}. Trained on the speech features and canonical landmarks of the prepared "
              "clips; validation LMD is logged on the 'val' split.", (6000, 16, 2e-4),
              lazy_options(LGAN + [LAMBDA_GAN] * (name == "motion"), "talkface.motion.lgan_net:LGANConfig"))
    model("blink", "blink generator G_B (GRU from noise, MMD + min-max range)",
          "Blink generator: a GRU from Gaussian noise to eye-landmark displacements, trained with MMD against the eye "
          "motion of the prepared clips plus the min-max range regularisation.", (6000, 16, 2e-4))
    model("texture", "texture generator: reference image + landmark image -> frame",
          "Texture generator (--variant): 'adain' = t-GAN (Das et al.), 'attention' = attention + colour maps (Sinha "
          "et al.), 'warp' = the attention variant composed with the identity image warped onto the target landmarks "
          "(the default model). --meta: MAML meta-training.", (6000, 16, 2e-4),
          lazy_options(TEXTURE, *TEXTURE_SOURCES))
    model("sync", "lip-sync model behind AV offset / LSE-D / LSE-C (talkface evaluate --sync-model)",
          "SyncNet-style audio-mouth embedding model (docs/evaluation.md): InfoNCE of 5-frame mouth windows against "
          "the audio of the same clip at offsets within +-15 frames and of other clips. Trains on the first "
          "dataset's 'train' split plus every clip of the further datasets, validates on its 'val' split (shifts "
          "-5..+5, frozen mouths) and writes OUTPUT/syncnet.pt.", (2000, 16, 1e-3), lazy_options(SYNC, *SYNC_SOURCES),
          data_help="prepared dataset (train/val splits), then more datasets to train on")
    model("lipread", "GRID lip reader behind the WER of talkface evaluate",
          "Lip reader of GRID sentences (docs/evaluation.md): grey mouth crops cut with the prepared landmarks, a "
          "3-D/2-D conv front-end, a BiGRU and one attention-pooled classifier per slot (command colour preposition "
          "letter digit adverb), with flip/scale/colour/blur/frame-rate augmentation. Trains on the dataset's 'train' "
          "split (or --train-list), keeps the best 'val' WER in best.ckpt (with --val-every) and writes "
          "OUTPUT/lipreader.pt for talkface evaluate --lipreader. Sentences come from the GRID file names or .align "
          "files.", (1000, 16, 2e-3), lazy_options(LIPREAD, LIPREAD_SOURCE), data_help="prepared dataset of GRID clips")
    model("e2e", "end-to-end temporal GAN baseline (Vougioukas et al.)",
          "End-to-end temporal GAN: audio encoder + context GRU, identity encoder, noise GRU, frame decoder; frame and "
          "sequence discriminators; L1 on the lower half of the face. Unset options keep the paper's values.",
          (6000, 16, 2e-4), _e2e_options)


def _e2e_options(mp: argparse.ArgumentParser) -> None:
    from talkface.e2e import ABLATIONS, E2EConfig, E2EDataConfig  # lazy: loads lightning, torch

    add_options(mp, [Opt("ablation", "start from a row of the ablation table (docs/e2e.md): l1 = L1 on the whole "
                         "frame only, l1+img = + frame discriminator, l1+img+seq = + sequence discriminator (the full "
                         "model, also without --ablation), l1+img+spp = with the variable-length SPP sequence "
                         "discriminator", choices=tuple(ABLATIONS))], unset=True)
    add_options(mp, E2E, (E2EConfig, E2EDataConfig), unset=True)


EVALUATE = [
    Opt("data", "prepared dataset folder (talkface preprocess output, with its crop videos)", flag=""),
    Opt("split", "clips to evaluate: train, val or test (the dataset's speaker split), or all", default="test"),
    Opt("max_clips", "evaluate only the first N clips of the split", type=positive_int),
    Opt("model", "model bundle folder to run (talkface animate's model), or 'default' for the bundled model; "
        "repeatable, one row each", action="append", metavar="DIR|default"),
    Opt("videos", "videos already generated by a method NAME: DIR/<speaker>/<utterance>.mp4 per clip id, made from "
        "that clip's still and speech; repeatable", action="append", type=_named_folder, metavar="NAME=DIR"),
    Opt("output", "folder for the report files", short="-o", required=True, metavar="REPORT_DIR"),
    Opt("seed", "seed of Python/NumPy/torch before each model call (clip i runs with seed + i) and of the models' "
        "blink noise"),
    Opt("still", "identity frame given to the methods: the clip's first frame (the papers) or its neutral frame",
        choices=("first", "neutral")),
    Opt("whole_frames", "compare whole frames instead of the prepared 128 px face crops: each clip's source video at "
        "its own resolution (up to --max-side), the methods animating its whole first (or neutral) frame as a user's "
        "photo"),
    Opt("max_side", "--whole-frames: downscale the source frames (and the --model runs' photos) to this longer side"),
    Opt("seconds", "evaluate only the first N seconds of each clip (none: all of it)", type=float),
    Opt("lpips_stride", "LPIPS on every k-th frame (~0.5 s per 128 px frame pair on one CPU core)", type=positive_int),
    Opt("identity_stride", "ACD / FaceNet on every k-th frame", type=positive_int),
    Opt("lpips", "skip LPIPS (the slowest metric on CPU)"),
    Opt("identity", "skip the ACD / FaceNet identity metrics"),
    Opt("sync", "skip AV offset / LSE-D / LSE-C"),
    Opt("sync_model", "sync model file (default: the bundled assets/syncnet.pt)"),
    Opt("lipread", "skip the lip reader's WER / per-slot accuracy"),
    Opt("render", "skip the rendering columns (face sharpness / real, colour change outside mouth and eyes, rendered "
        "/ requested mouth opening, mouth-crop LPIPS)", flag="--no-render-metrics"),
    Opt("lipreader", "lip reader file (default: the bundled assets/lipreader.pt; talkface train lipread)"),
    *motion_opts("--model runs: ", checked=True),
    Opt(RENDERER.name, "--model runs: " + RENDERER.help, choices=RENDERER.choices),
    Opt("device", "torch device of the models, LPIPS and the sync model"),
    Opt("threads", "torch CPU threads", type=positive_int, show_range=False), QUIET,
]

EVALUATE_MOTION = [
    Opt("data", "prepared dataset folder(s)", flag="", nargs="+"),
    Opt("lgan", "l-GAN checkpoint, model bundle folder or 'default' (repeatable)", action="append"),
    Opt("blink", "blink-generator checkpoint"),
    Opt("liveliness", "instead of LMD in canonical space: animate each clip's first frame with its own speech (mouth "
        "normalisation, head motion, blinks of the shipped model) and report opening std ratio (generated/real), "
        "opening correlation, LMD, model-free AV offset, head-pose std ratio per axis and head-motion/speech-energy "
        "correlation (talkface.eval.liveliness)", action="store_true"),
    *motion_opts("--liveliness: ", checked=True)[2:],
    Opt("split", "split to evaluate on ('all': every clip)", default="test"),
    Opt("sequences", "generated blink sequences", type=int, default=100),
    Opt("seconds", "length of each generated sequence", type=float, default=10.0),
    Opt("blink_rate", "also test this target rate", type=float, action="append", show_range=False),
    THREADS,
]


EVALUATE_COMMANDS = [
    Command("evaluate-motion", EVALUATE_MOTION, sources=("talkface.animate_config:AnimateConfig",),
            help="LMD / mouth correlation of l-GAN checkpoints, blink statistics of a blink generator"),
    Command(
        "evaluate", EVALUATE,
        sources=("talkface.eval.report.config:EvalConfig", "talkface.animate_config:AnimateConfig"),
        help="score models / generated videos on a prepared test set: the papers' comparison table",
        description="Evaluate talking-head methods on the held-out clips of a prepared dataset (talkface preprocess) "
        "and write REPORT_DIR/report.md (header with this exact command, mean ± std per metric and method, one row "
        "per clip), summary.csv, per_clip.csv, strip.png (real vs generated frames and mouth crops) and "
        "blink_durations.png. Each clip's aligned face crop at the still frame and its speech are given to every "
        "method; the metrics compare the output with the real crops: PSNR, SSIM, LPIPS, CPBD, FDBM, LMD, mouth "
        "correlation, ACD (dlib) and FaceNet identity distance to the still, AV offset / LSE-D / LSE-C (talkface's "
        "own sync model), blink rate and duration, and on GRID clips the word error rate and per-slot accuracy of "
        "talkface's GRID lip reader. The rows always include 'ground truth' (the real frames) and "
        "'still baseline' (the still repeated: a model that does not move). See docs/evaluation.md."),
]


SERVE = [
    Opt("host", "address to listen on (0.0.0.0 = every interface)"),
    Opt("port", "TCP port"),
    Opt("workers", "jobs animated at once (models loaded per worker)", type=positive_int),
    Opt("max_queued", "jobs allowed to wait; more get HTTP 503", type=positive_int),
    Opt("max_upload_bytes", "largest accepted file, MiB", flag="--max-upload-mb", scale=2**20, limit="max_upload_mb"),
    Opt("max_audio_seconds", "longest accepted speech, seconds"),
    Opt("max_image_pixels", "largest accepted photo, megapixels", flag="--max-image-megapixels", scale=1e6,
        limit="max_image_megapixels"),
    Opt("job_ttl_s", "minutes a finished job's video is kept", flag="--job-ttl-minutes", scale=60,
        limit="job_ttl_minutes"),
    Opt("work_dir", "folder for the jobs' files (default: a temporary folder)"),
    Opt("model", "model bundle folder (default: the bundled model)"),
    Opt("threads", "torch CPU threads per worker", type=positive_int, show_range=False),
    Opt("token", "API token: requests to /v1/ need 'Authorization: Bearer TOKEN' (the page gets it from the link "
        "printed at start-up); default: the environment variable TALKFACE_SERVE_TOKEN, else none"),
    Opt("allowed_hosts", "also answer requests for this Host name (e.g. the public name behind a reverse proxy; '*' "
        "= any); others are refused, which stops DNS-rebinding attacks from web pages; repeatable",
        flag="--allow-host", action="append", metavar="NAME"),
    Opt("allowed_origins", "also accept job submissions from pages of this origin (e.g. https://app.example; '*' = "
        "any); by default other web sites cannot submit or delete jobs; repeatable", flag="--allow-origin",
        action="append", metavar="ORIGIN"),
    Opt("client_timeout_s", "seconds a client may pause while uploading before it is cut off (HTTP 408)",
        flag="--client-timeout", limit="client_timeout"),
    Opt("queue", "redis://HOST:PORT/DB: keep jobs in Redis and run them on 'talkface worker' processes (any machine "
        "that sees --work-dir) instead of in this server (needs pip install 'talkface[redis]')", metavar="URL"),
    Opt("queue_retries", "with --queue: times a job is queued again after the worker running it died"),
    Opt("queue_lease_s", "with --queue: seconds without a heartbeat after which a worker counts as dead"),
    Opt("max_live_sessions", "live sessions (page /live, WebSocket /v1/live) at once; more are told the server is "
        "busy", type=positive_int),
]

WORKER = [
    Opt("queue", "Redis URL, redis://HOST:PORT/DB", required=True, metavar="URL"),
    Opt("work_dir", "the server's job folder (shared), as seen from this machine", required=True),
    Opt("model", "model bundle folder (default: the bundled model)"), THREADS,
    Opt("max_audio_seconds", "longest speech accepted, seconds"),
    Opt("queue_lease_s", "seconds without a heartbeat after which this worker counts as dead", flag="--lease-s",
        type=number_arg("queue_lease_s")),  # checked while parsing: ServeConfig's message would say --queue-lease-s
    Opt("prefix", "Redis key prefix (the server's)", default="talkface"),
    Opt("max_jobs", "exit after this many jobs", type=int),
]


_SERVE_CONFIG = ("talkface.serve.config:ServeConfig",)
SERVE_COMMANDS = [
    Command(
        "serve", SERVE, sources=_SERVE_CONFIG,
        help="web page + HTTP API: upload a face photo and speech, get the talking-head mp4",
        description="Start a local web server: a page to upload (or record) speech and a face photo, choose the "
        "blink rate and output size, follow progress and play/download the video; and a JSON API (POST /v1/animate "
        "-> job id, GET /v1/jobs/ID, GET /v1/jobs/ID/video; OpenAPI schema at /openapi.json). Jobs run in a "
        "bounded pool of workers, each with the models loaded once; uploads are checked from their bytes and "
        "limited in size, duration and pixels; each job's files are deleted --job-ttl-minutes after it ends."),
    Command(
        "worker", WORKER, sources=_SERVE_CONFIG,
        help="run the jobs of a 'talkface serve --queue redis://...' server, on this machine or another",
        description="Take animation jobs from the Redis queue of 'talkface serve --queue redis://HOST:PORT/DB' and "
        "run them, one at a time, with the models loaded once. --work-dir is the server's job folder as this "
        "machine sees it (a shared folder). Start as many workers, on as many machines, as you like. A worker that "
        "is killed stops sending heartbeats; after --lease-s seconds its job goes back to the queue (or, when "
        "workers died holding it more than the server's --queue-retries times, the job fails saying so). Ctrl-C or "
        "SIGTERM hands the job in hand back to the queue at once."),
]


def build(handlers: Handlers) -> argparse.ArgumentParser:
    """The full ``talkface`` parser; ``handlers`` maps a command (``"train_e2e"``) to its function."""
    parser = argparse.ArgumentParser(
        prog="talkface",
        description="talkface: one still photo of a face + a speech recording -> a talking-head video. "
        "Subcommands prepare data, train the models, animate faces and evaluate results.",
        formatter_class=_FORMAT,
    )
    parser.add_argument("--version", action="version", version=f"talkface {__version__}")
    sub = lazy_subparsers(parser, dest="command", metavar="COMMAND", required=True)
    add_commands(sub, handlers, COMMANDS)
    add_train_command(sub, handlers)
    add_commands(sub, handlers, [EVALUATE_COMMANDS[0], *MOTION_COMMANDS, EVALUATE_COMMANDS[1], SERVE_COMMANDS[0]])
    add_batch_parser(sub)
    add_commands(sub, handlers, SERVE_COMMANDS[1:])
    add_live_parser(sub).set_defaults(func=handlers["live"])
    return parser


def evaluate_command(args: argparse.Namespace) -> str:
    """The canonical ``talkface evaluate`` command line of ``args`` (recorded in the report header)."""
    parts = ["talkface", "evaluate", args.data, "--split", args.split]
    if args.max_clips is not None:
        parts += ["--max-clips", str(args.max_clips)]
    for model in args.model:
        parts += ["--model", model]
    for name, folder in args.videos:
        parts += ["--videos", f"{name}={folder}"]
    parts += ["-o", args.output, "--seed", str(args.seed), "--still", args.still,
              "--lpips-stride", str(args.lpips_stride), "--identity-stride", str(args.identity_stride)]
    if args.whole_frames:
        parts += ["--whole-frames"]
    if args.max_side != DEFAULT_MAX_SIDE:
        parts += ["--max-side", str(args.max_side)]
    if args.seconds is not None:
        parts += ["--seconds", f"{args.seconds:g}"]
    parts += [flag for flag, on in (("--no-lpips", args.no_lpips), ("--no-identity", args.no_identity),
                                    ("--no-sync", args.no_sync), ("--no-lipread", args.no_lipread),
                                    ("--no-render-metrics", args.no_render_metrics)) if on]
    if args.sync_model:
        parts += ["--sync-model", args.sync_model]
    if args.lipreader:
        parts += ["--lipreader", args.lipreader]
    if args.motion_scale not in (None, 1.0):
        parts += ["--motion-scale", f"{args.motion_scale:g}"]
    if args.keep_open_mouth:
        parts += ["--keep-open-mouth"]
    if args.head_motion not in (None, 1.0):
        parts += ["--head-motion", f"{args.head_motion:g}"]
    if args.raw_mouth:
        parts += ["--raw-mouth"]
    if args.device != "cpu":
        parts += ["--device", args.device]
    return shlex.join(parts)
