"""One default and one range per option (issue 17): the CLI, the configs, the server's form and ``/v1/limits``,
and the sliders of the page it serves all agree, and the CLI's options are the configs' fields."""

from __future__ import annotations

import functools
import math
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from talkface.bundle import DEFAULT_MODEL
from talkface.cli import _train_config_from_args, build_parser
from talkface.cli_groups import ANIMATE, LANDMARKS, PREPROCESS
from talkface.cli_options import FIELD, Opt
from talkface.cli_parser import SERVE, TRAIN, WORKER
from talkface.config_checks import LIMITS, OptionError
from talkface.data.preprocess import PreprocessConfig
from talkface.pipeline import AnimateConfig
from talkface.serve import ServeConfig, create_app
from talkface.serve.jobs import JobOptions
from talkface.train.core import TrainConfig

#: The options of the page's sliders: shared by animate, landmarks, evaluate, the form and JobOptions.
SLIDERS = {"blink": "blink_rate", "motion": "motion_scale", "head": "head_motion"}
PHOTO_SPEECH = ["face.png", "speech.wav", "-o", "out.mp4"]
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


class Reached(Exception):
    """Raised by a stub in place of the command's work, once the options have reached it."""


def _record_kwargs(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> dict[str, Any]:
    """Replace ``owner.name`` by a stub with its signature that records its keyword arguments and raises
    :class:`Reached`; returns the dict the keywords land in."""
    got: dict[str, Any] = {}

    @functools.wraps(getattr(owner, name))
    def stub(*args: Any, **kwargs: Any) -> None:
        got.update(kwargs)
        raise Reached

    monkeypatch.setattr(owner, name, stub)
    return got


def _parse(*argv: str) -> Any:
    return build_parser().parse_args(list(argv))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """``/v1/limits`` and the attributes of the served page's range inputs, by form field."""
    work = tmp_path_factory.mktemp("serve")
    app = create_app(ServeConfig(work_dir=work), animator_factory=lambda: None)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        limits = client.get("/v1/limits").json()
        page = client.get("/").text
    sliders = {}
    for tag in re.findall(r"<input type=\"range\"[^>]*>", page):
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', tag))
        sliders[attrs["name"]] = {k: float(attrs[k]) for k in ("min", "max", "value")}
    return limits, sliders


def test_shared_defaults_agree(served: tuple[dict[str, Any], dict[str, dict[str, float]]]) -> None:
    limits, sliders = served
    config, job = AnimateConfig(), JobOptions()
    animate = _parse("animate", *PHOTO_SPEECH)
    landmarks = _parse("landmarks", *PHOTO_SPEECH)
    evaluate = _parse("evaluate", "data", "-o", "report")
    liveliness = _parse("evaluate-motion", "data")
    assert set(sliders) == set(SLIDERS.values())
    for name in SLIDERS.values():
        want = getattr(config, name)
        values = {"JobOptions": getattr(job, name), "animate": getattr(animate, name),
                  "landmarks": getattr(landmarks, name), "page": sliders[name]["value"],
                  "/v1/limits": limits["defaults"][name]}
        if name != "blink_rate":
            values.update(evaluate=getattr(evaluate, name))
        if name == "head_motion":
            values.update({"evaluate-motion": liveliness.head_motion})
        assert values == dict.fromkeys(values, want), name
    assert ServeConfig().default_blink_rate == limits["default_blink_rate"] == config.blink_rate
    # the neutral mouth and the mouth amplitude: flags that turn the config's True off
    for args in (animate, landmarks, evaluate):
        assert not args.keep_open_mouth and config.close_mouth and not args.raw_mouth and config.normalise_mouth


def test_shared_ranges_agree(served: tuple[dict[str, Any], dict[str, dict[str, float]]]) -> None:
    limits, sliders = served
    for name in SLIDERS.values():
        lo, hi = LIMITS[name].lo, LIMITS[name].hi
        assert limits["ranges"][name] == [lo, hi]
        assert (sliders[name]["min"], sliders[name]["max"]) == (lo, hi), name
        for ok in (lo, hi):  # the configs accept the ends, refuse just outside them
            AnimateConfig(**{name: ok})
            JobOptions(**{name: ok})
        for bad in (lo - 0.01, hi + 0.01, math.nan):
            if name == "blink_rate" and bad < 0:
                continue  # animate: a negative blink rate means "the model's natural rate" (None)
            with pytest.raises(OptionError):
                AnimateConfig(**{name: bad})
            with pytest.raises(OptionError):
                JobOptions(**{name: bad})
    for name in ("motion_scale", "head_motion"):  # landmarks builds no AnimateConfig: checked while parsing
        flag = "--" + name.replace("_", "-")
        assert getattr(_parse("landmarks", *PHOTO_SPEECH, flag, f"{LIMITS[name].hi:g}"), name) == LIMITS[name].hi
        with pytest.raises(SystemExit):
            _parse("landmarks", *PHOTO_SPEECH, flag, f"{LIMITS[name].hi + 0.01:g}")
        assert f"between {LIMITS[name].lo:g} and {LIMITS[name].hi:g}" in _option_help("animate", flag)


def _option_help(command: str, flag: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    sub.populate(command)  # type: ignore[attr-defined]
    action = next(a for a in sub.choices[command]._actions if flag in a.option_strings)  # type: ignore[index]
    return str(action.help)


def test_seconds_limits_agree(served: tuple[dict[str, Any], dict[str, dict[str, float]]]) -> None:
    limits, _ = served
    longest = AnimateConfig().max_duration_s
    assert _parse("animate", *PHOTO_SPEECH).max_duration == longest
    assert _parse("landmarks", *PHOTO_SPEECH).max_duration_s == longest
    assert _parse("preprocess", "videos", "-o", "ds").max_duration == PreprocessConfig().max_duration_s
    server = ServeConfig().max_audio_seconds
    assert _parse("serve").max_audio_seconds == server == limits["max_audio_seconds"]
    assert _parse("worker", "--queue", "redis://x", "--work-dir", "w").max_audio_seconds == server
    serve = _parse("serve")
    assert serve.max_upload_mb * 2**20 == ServeConfig().max_upload_bytes == limits["max_upload_bytes"]
    assert serve.job_ttl_minutes * 60 == ServeConfig().job_ttl_s == limits["job_ttl_s"]
    assert serve.max_image_megapixels * 1e6 == ServeConfig().max_image_pixels == limits["max_image_pixels"]


def test_cli_options_are_config_fields() -> None:
    """Every option of a config-backed command names a field of its config and leaves its default to it (the
    CLI's presets are listed); parsing no options gives the config's defaults."""
    from talkface.batch.command import BATCH_ANIMATE
    from talkface.live.command import LIVE, LIVE_ANIMATE
    from talkface.live.config import LiveConfig

    presets = {"workers"}  # preprocess --workers: half the CPUs, no config field (a run setting)
    for opts, config in ((ANIMATE, AnimateConfig), (LANDMARKS, AnimateConfig), (PREPROCESS, PreprocessConfig),
                         (SERVE, ServeConfig), (WORKER, ServeConfig), (TRAIN, TrainConfig),
                         (LIVE, LiveConfig), (LIVE_ANIMATE, AnimateConfig), (BATCH_ANIMATE, AnimateConfig)):
        names = {f.name for f in fields(config)}
        for opt in opts:
            assert isinstance(opt, Opt)
            if opt.name in names:
                assert opt.default is FIELD or opt.name in presets or opt.name == "max_duration_s", (config, opt)
    train = _train_config_from_args(_parse("train", "blink", "data", "-o", "run"))
    assert train == TrainConfig(max_steps=6000, batch_size=16, lr=2e-4)  # the preset; every other field TrainConfig's
    assert _train_config_from_args(_parse("train", "motion", "d", "-o", "r", "-q", "--threads", "2",
                                          "--val-every", "5")) == TrainConfig(
        max_steps=6000, batch_size=16, lr=2e-4, progress_bar=False, num_threads=2, val_every_n_steps=5)


def test_texture_preset_and_e2e_unset(tmp_path: Path) -> None:
    """The CLI's texture preset differs from TextureConfig on purpose; e2e options left out keep E2EConfig's."""
    args = _parse("train", "texture", "d", "-o", "r")
    assert (args.variant, args.channels, args.map_size, args.references_from) == ("warp", 16, 64, "clip")
    from talkface.e2e import E2EConfig

    assert f"({E2EConfig().l1_weight:g})" in _option_help_train("e2e", "--l1-weight")


def _option_help_train(model: str, flag: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    train = sub.populate("train")  # type: ignore[attr-defined]
    models = next(a for a in train._actions if a.dest == "model")
    action = next(a for a in models.populate(model)._actions if flag in a.option_strings)
    return str(action.help)


def test_defaults_read_from_source_are_the_configs() -> None:
    """Commands read a config's defaults from its source (no torch import for ``--help``): exactly the values and
    annotations of the imported dataclass (or function), or ``None`` where that is not certain (then it is imported)."""
    import importlib

    from talkface.cli_groups import COMMANDS, MOTION_COMMANDS
    from talkface.cli_options import _fields_of, read_source_fields
    from talkface.cli_parser import EVALUATE_COMMANDS, SERVE_COMMANDS, SYNC_SOURCES, TEXTURE_SOURCES

    sources = {s for c in (*COMMANDS, *MOTION_COMMANDS, *EVALUATE_COMMANDS, *SERVE_COMMANDS) for s in c.sources}
    sources |= {"talkface.live.config:LiveConfig", "talkface.train.core:TrainConfig",
                "talkface.motion.lgan_net:LGANConfig", "talkface.texture.networks:TextureConfig",
                "talkface.texture.data:TextureDataConfig", *SYNC_SOURCES, *TEXTURE_SOURCES}
    read = 0
    for source in sorted(sources):
        module, _, name = source.partition(":")
        static = read_source_fields(module, name)
        if static is not None:
            read += 1
            assert static == _fields_of(getattr(importlib.import_module(module), name)), source
    assert read >= 5  # AnimateConfig, adapt_person, PreprocessConfig, EvalConfig, TrainConfig at least
    assert read_source_fields("talkface.serve.config", "ServeConfig") is None  # 32 * 1024 * 1024: imported instead


def test_job_options_defaults_are_animate_configs() -> None:
    """The server's per-job options take AnimateConfig's defaults (written once, in AnimateConfig): each default
    equals AnimateConfig's and is written as ``animate_default("<field>")``, never as a literal of its own."""
    import ast
    import inspect

    from talkface.animate_config import animate_default
    from talkface.serve import jobs

    job = JobOptions()
    for f in fields(JobOptions):
        assert getattr(job, f.name) == f.default == animate_default(f.name), f.name
    tree = ast.parse(inspect.getsource(jobs.JobOptions))
    written = {s.target.id: s.value for s in tree.body[0].body  # type: ignore[attr-defined]
               if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)}
    assert set(written) == {f.name for f in fields(JobOptions)}
    for name, value in written.items():
        assert ast.unparse(value) == f"animate_default({name!r})", (name, ast.unparse(value))


def test_speech_limit_and_batch_live_defaults_agree() -> None:
    """The 600-s speech limit is one constant for animate, landmarks, batch and preprocess; batch's per-row
    defaults and live's shared ones are AnimateConfig's; the photo downscale default is one constant too."""
    from talkface.config_checks import DEFAULT_MAX_SIDE, MAX_SPEECH_S
    from talkface.photo_video import DEFAULT_MAX_SIDE as photo_max_side

    config = AnimateConfig()
    batch = _parse("batch", "jobs.csv", "-o", "out")
    assert (config.max_duration_s == PreprocessConfig().max_duration_s == batch.max_duration
            == _parse("animate", *PHOTO_SPEECH).max_duration == MAX_SPEECH_S)
    assert config.max_side == batch.max_side == photo_max_side == DEFAULT_MAX_SIDE
    for name in ("blink_rate", "motion_scale", "head_motion", "size", "seed", "crf", "device", "backend"):
        assert getattr(batch, name) == getattr(config, name), name
    live = _parse("live", "face.png", "--audio-from", "speech.wav", "-o", "out.mp4")
    for name in ("blink_rate", "motion_scale", "head_motion", "size", "seed"):
        assert getattr(live, name) == getattr(config, name), name


def test_live_and_job_ttl_defaults_agree() -> None:
    """The live session limit (longer than a file's) and the finished-job lifetime are one constant each."""
    import inspect

    from talkface.config_checks import MAX_LIVE_S, MAX_SPEECH_S
    from talkface.serve.jobs import JobManager
    from talkface.serve.live import LiveService

    live = _parse("live", "face.png", "--audio-from", "speech.wav", "-o", "out.mp4")
    assert live.max_duration == inspect.signature(LiveService).parameters["max_seconds"].default == MAX_LIVE_S
    assert MAX_LIVE_S > MAX_SPEECH_S
    assert inspect.signature(JobManager).parameters["ttl_s"].default == ServeConfig().job_ttl_s


#: Rows of a photo -> video command that name no config field: its inputs, its output and the progress switch.
_NOT_CONFIG = {"face", "speech", "audio_from", "output", "quiet"}


def _other_value(opt: Opt, field: Any, tmp_path: Path) -> tuple[list[str], Any]:
    """A command line giving the option a usable value other than the field's default, and the value the config
    must then hold."""
    flag = opt.flags(field)[-1]
    if opt.action == "store_true" or (opt.action is None and field.annotation == "bool"):
        return [flag], not field.default
    if opt.action is not None:  # --realtime / --no-realtime
        return [("--no-" + flag[2:]) if field.default else flag], not field.default
    if opt.choices:
        value = next(c for c in opt.choices if c != field.default)
        return [flag, str(value)], value
    if opt.name in LIMITS:
        limit = LIMITS[opt.name]
        value = limit.hi if limit.hi != field.default else limit.lo
        value = int(value) if limit.integer else float(value)
        return [flag, f"{value:g}" if isinstance(value, float) else str(value)], value
    kind = field.annotation.replace(" | None", "")
    if kind in ("int", "float"):  # no range of its own (a stride, a clip count)
        number = 3 if field.default != 3 else 4
        return [flag, str(number)], number
    files = {"person", "sync_model", "lipreader"}  # only checked to exist
    strings = {"model": str(DEFAULT_MODEL), "device": "cpu:0", "queue": "redis://localhost:6379/0",
               "work_dir": str(tmp_path), **{name: str(tmp_path / "me.pt") for name in files}}
    return [flag, strings[opt.name]], strings[opt.name]


def _every_option_reaches_its_config(command: list[str], opts: list[Opt], config: Any, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch, stop: tuple[Any, str] | None = None,
                                     own: frozenset[str] = frozenset()) -> tuple[Any, Any]:
    """Run ``command`` with every row of ``opts`` set to a value other than its default, as far as the Animator
    (or ``stop``: module and name of the function that gets the config); check field by field that each reached
    ``config`` (the AnimateConfig the Animator gets). ``own``: rows of the command that name no config field."""
    import talkface.pipeline as pipeline
    from talkface.cli import main
    from talkface.cli_options import _fields_of

    got: list[Any] = []

    def animator(*args: Any, **kwargs: Any) -> None:
        got.extend(a for a in (*args, *kwargs.values()) if isinstance(a, config))
        raise Reached

    fields_ = _fields_of(config)
    argv, want = list(command), {}
    for opt in opts:
        if opt.name in _NOT_CONFIG | own:
            continue
        assert opt.name in fields_, f"{command[0]} {opt.flags(None)}: no {config.__name__} field {opt.name!r}"
        extra, want[opt.name] = _other_value(opt, fields_[opt.name], tmp_path)
        argv += extra
    (tmp_path / "me.pt").write_bytes(b"")
    monkeypatch.setattr(*(stop or (pipeline, "Animator")), animator)
    with pytest.raises(Reached):
        main(argv)
    built = got[0]
    assert isinstance(built, config)
    for name, value in want.items():
        held = getattr(built, name)
        assert (str(held) if isinstance(held, Path) else held) == value, (command[0], name, held, value)
        assert value != getattr(config(), name), name  # a value the default would not give
    return built, argv


def test_every_animate_option_reaches_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each row of the ANIMATE table lands in the AnimateConfig that ``talkface animate`` builds, field by field (an
    option parsed and then dropped, as --shading once was, fails here)."""
    from talkface.motion.amplitude import MOUTH_REQUESTS

    mouth_request = next(o for o in ANIMATE if o.name == "mouth_request")
    assert set(mouth_request.choices or ()) == set(MOUTH_REQUESTS)
    _every_option_reaches_its_config(["animate", str(EXAMPLES / "face.png"), str(EXAMPLES / "speech.wav"), "-o",
                                      str(tmp_path / "out.mp4"), "-q"], ANIMATE, AnimateConfig, tmp_path, monkeypatch)


def test_every_live_option_reaches_its_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``talkface live``: each row of LIVE_ANIMATE (animate's own rows) lands in the AnimateConfig of the stream's
    Animator, each row of LIVE in the LiveConfig, field by field; the shared rows are animate's, unchanged."""
    from talkface.live.command import LIVE, LIVE_ANIMATE, live_configs
    from talkface.live.config import LiveConfig

    command = ["live", str(EXAMPLES / "face.png"), "--audio-from", str(EXAMPLES / "speech.wav"), "-o",
               str(tmp_path / "live.mp4"), "-q"]
    _, argv = _every_option_reaches_its_config(command, LIVE_ANIMATE, AnimateConfig, tmp_path, monkeypatch)
    shared = {o.name: o for o in ANIMATE}
    for opt in LIVE_ANIMATE:
        assert opt == shared[opt.name] or (opt.name == "normalise_mouth" and opt.flag == shared[opt.name].flag)
    fields_ = {f.name: f for f in fields(LiveConfig)}
    own = [o for o in LIVE if o.name not in _NOT_CONFIG]
    assert {o.name for o in own} == set(fields_), "every LiveConfig field is an option, every option a field"
    from talkface.cli_options import _fields_of

    for opt in own:
        extra, value = _other_value(opt, _fields_of(LiveConfig)[opt.name], tmp_path)
        animate_config, live_config = live_configs(_parse(*argv, *extra))
        assert getattr(live_config, opt.name) == value != getattr(LiveConfig(), opt.name), opt.name
    _, default = live_configs(_parse(*command))
    assert default == LiveConfig() and default.realtime
    assert live_configs(_parse(*command, "--realtime"))[1].realtime
    assert live_configs(_parse(*command, "--blink-rate", "-1"))[0].blink_rate is None  # negative: natural, as animate


def test_every_batch_option_reaches_the_runs_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``talkface batch``: each row of BATCH_ANIMATE (animate's own rows) lands in the AnimateConfig given to
    run_batch, field by field; --threads not given still shares the CPU cores among the workers."""
    import os

    import talkface.batch.command as batch
    from talkface.batch.command import BATCH_ANIMATE

    shared = {o.name: o for o in ANIMATE}
    for opt in BATCH_ANIMATE:
        assert opt == shared[opt.name] or (opt.name == "threads" and opt.flag == shared[opt.name].flag)
    command = ["batch", str(tmp_path / "jobs.csv"), "-o", str(tmp_path / "out"), "-q"]
    _every_option_reaches_its_config(command, BATCH_ANIMATE, AnimateConfig, tmp_path, monkeypatch,
                                     stop=(batch, "run_batch"))
    config = batch.batch_config(_parse(*command, "--workers", "2"))
    assert config.threads == max(1, (os.cpu_count() or 1) // 2)
    assert batch.batch_config(_parse(*command, "--blink-rate", "-1")).blink_rate is None


def test_every_evaluate_option_reaches_its_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``talkface evaluate``: each row of EVALUATE naming an EvalConfig field lands in the EvalConfig given to
    evaluate_videos, each naming an AnimateConfig field in the AnimateConfig of every --model, field by field."""
    import torch

    import talkface.eval.report as report
    import talkface.pipeline as pipeline
    from talkface.cli import main
    from talkface.cli_options import _fields_of
    from talkface.cli_parser import EVALUATE
    from talkface.eval.report import EvalConfig

    eval_fields, animate_fields = _fields_of(EvalConfig), _fields_of(AnimateConfig)
    argv = ["evaluate", str(tmp_path / "data"), "-o", str(tmp_path / "report"), "--model", "default", "-q"]
    want: dict[str, Any] = {}
    for opt in EVALUATE:
        field = eval_fields.get(opt.name) or animate_fields.get(opt.name)
        if field is None or opt.name == "model":
            continue
        extra, want[opt.name] = _other_value(opt, field, tmp_path)
        if opt.name == "threads":  # torch's threads of this process: set back below
            extra, want[opt.name] = [extra[0], "2"], 2
        argv += extra
    (tmp_path / "me.pt").write_bytes(b"")
    got: dict[str, Any] = {}

    class Animator:
        def __init__(self, config: AnimateConfig) -> None:
            got["animate"] = config
            self.talking_head = None

    def evaluate_videos(**kwargs: Any) -> None:
        got["eval"] = kwargs["config"]
        raise Reached

    monkeypatch.setattr(report, "dataset_clip_ids", lambda *a: (None, ["s1/u1"]))
    monkeypatch.setattr(report, "check_sources", lambda *a: None)  # --whole-frames' source videos
    monkeypatch.setattr(report, "evaluate_videos", evaluate_videos)
    monkeypatch.setattr(pipeline, "Animator", Animator)
    threads = torch.get_num_threads()
    try:
        with pytest.raises(Reached):
            main(argv)
    finally:
        torch.set_num_threads(threads)
    assert {"lpips", "identity", "sync", "lipread", "render", "still", "motion_scale", "renderer"} <= set(want)
    for name, value in want.items():
        for key, fields_ in (("eval", eval_fields), ("animate", animate_fields)):
            if name in fields_:
                assert getattr(got[key], name) == value != fields_[name].default, (key, name)
    assert got["animate"].model is None  # --model default: the bundled model


def test_every_worker_option_reaches_the_serve_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``talkface worker``: each row of WORKER naming a ServeConfig field lands in the ServeConfig its handler
    gets (the animator factory's model, threads, speech limit; the heartbeat lease), field by field."""
    import talkface.serve.redis_queue as redis_queue

    _every_option_reaches_its_config(["worker"], WORKER, ServeConfig, tmp_path, monkeypatch,
                                     stop=(redis_queue, "run_worker_command"), own=frozenset({"prefix", "max_jobs"}))


def test_every_lgan_option_reaches_the_model_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``talkface train motion``: --temporal-loss and --lambda-gan land in the LGANConfig given to train_lgan;
    ``train regression`` has no --lambda-gan and trains without D_L."""
    import talkface.motion.lgan as lgan
    from talkface.cli_parser import LAMBDA_GAN, LGAN
    from talkface.motion.lgan import LGANConfig

    _every_option_reaches_its_config(["train", "motion", str(tmp_path), "-o", str(tmp_path / "run")],
                                     [*LGAN, LAMBDA_GAN], LGANConfig, tmp_path, monkeypatch,
                                     stop=(lgan, "train_lgan"), own=frozenset({"init"}))
    built, _ = _every_option_reaches_its_config(["train", "regression", str(tmp_path), "-o", str(tmp_path / "r")],
                                                LGAN, LGANConfig, tmp_path, monkeypatch, stop=(lgan, "train_lgan"),
                                                own=frozenset({"init"}))
    assert built.regression_only and built.lambda_gan == LGANConfig().lambda_gan


def test_every_sync_option_reaches_train_syncnet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``talkface train sync``: each row of SYNC lands in the SyncNetDataConfig, the SyncNetConfig or the keyword
    argument of train_syncnet that it names, field by field (dropping a row or its value fails here); with no option
    the configs are their defaults except the one documented preset, SYNC_PRESETS (16 windows per item)."""
    import talkface.eval.sync as sync
    from talkface.cli import main
    from talkface.cli_options import source_fields
    from talkface.cli_parser import SYNC, SYNC_PRESETS, SYNC_SOURCES
    from talkface.eval.sync import SyncNetConfig, SyncNetDataConfig

    got = _record_kwargs(monkeypatch, sync, "train_syncnet")
    model = tmp_path / "me.pt"
    model.write_bytes(b"")
    (tmp_path / "ex.txt").write_text("a b\n")
    files = {"init", "realign_with", "warm_start"}
    values: dict[str, Any] = {"windows_per_item": 4, "max_train_clips": 7, "max_val_clips": 9, "audio_context": 2,
                              "exclude": ["bbaf2n"], "exclude_file": str(tmp_path / "ex.txt"),
                              **dict.fromkeys(files, str(model))}
    assert {o.name for o in SYNC} == set(values), "every SYNC row is checked below"
    argv = ["train", "sync", str(tmp_path), "-o", str(tmp_path / "run")]
    for opt in SYNC:
        for value in values[opt.name] if isinstance(values[opt.name], list) else [values[opt.name]]:
            argv += [opt.flags(None)[-1], str(value)]
    with pytest.raises(Reached):
        main(argv)
    data, net, call = (source_fields(s) for s in SYNC_SOURCES)
    for name, value in values.items():
        if name in ("exclude", "exclude_file"):  # the utterances given and those of the file, together
            held, default, value = got["exclude"], [], ["bbaf2n", "a", "b"]
        elif name in data:
            held, default = getattr(got["data_config"], name), getattr(SyncNetDataConfig(), name)
        elif name in net:
            held, default = getattr(got["config"], name), getattr(SyncNetConfig(), name)
        else:
            held, default = got[name], call[name].default
        assert held == value != default, name
    got.clear()
    with pytest.raises(Reached):
        main(["train", "sync", str(tmp_path), "-o", str(tmp_path / "run")])
    assert got["config"] == SyncNetConfig()
    assert got["data_config"] == SyncNetDataConfig(**SYNC_PRESETS) != SyncNetDataConfig()
    assert {k: got[k] for k in files | {"max_train_clips", "max_val_clips"}} == {
        k: call[k].default for k in files | {"max_train_clips", "max_val_clips"}}
    assert [o.name for o in SYNC if o.default is not FIELD] == list(SYNC_PRESETS)


@pytest.mark.parametrize("variant", ["warp", "attention", "adain"])
def test_every_texture_option_reaches_its_config(variant: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``talkface train texture``: each row of TEXTURE lands in the TextureConfig (made by generator_config from
    --variant), the TextureDataConfig or the keyword argument of train_texture it names, field by field, for each
    generator (adain has no maps: --map-size / --map-region do not apply); with no option the configs are the
    generator's with the library defaults except the documented TEXTURE_PRESETS."""
    import talkface.texture.tgan as tgan
    from talkface.cli import main
    from talkface.cli_options import source_fields
    from talkface.cli_parser import TEXTURE, TEXTURE_PRESETS, TEXTURE_SOURCES
    from talkface.texture.data import TextureDataConfig
    from talkface.texture.networks import GENERATORS, TextureConfig, generator_config

    got: dict[str, Any] = {}

    @functools.wraps(tgan.train_texture)  # its signature: train_texture's defaults (--sample-every's)
    def train_texture(out: Any, data: Any, model: Any, train: Any, **kwargs: Any) -> None:
        got.update(kwargs, data=data, model=model)
        raise Reached

    monkeypatch.setattr(tgan, "train_texture", train_texture)
    assert set(next(o for o in TEXTURE if o.name == "variant").choices or ()) == set(GENERATORS)
    maps = variant != "adain"
    values: dict[str, Any] = {"variant": variant, "image_size": 256, "base_channels": 8, "map_region": "all",
                              "map_size": 32, "num_references": 3, "references_from": "speaker",
                              "frames_per_clip": 5, "adversarial": False, "no_temporal": True, "sample_every": 7}
    own = {"meta", "init"}  # MAML (meta_train_texture) and fine-tuning from a checkpoint: tested with the texture
    assert {o.name for o in TEXTURE} == set(values) | own, "every TEXTURE row is checked below"
    argv = ["train", "texture", str(tmp_path), "-o", str(tmp_path / "run")]
    for opt in TEXTURE:
        if opt.name in values:
            value = values[opt.name]
            argv += [opt.flags(None)[-1]] if isinstance(value, bool) else [opt.flags(None)[-1], str(value)]
    argv = [a.replace("--adversarial", "--no-adversarial") for a in argv]
    with pytest.raises(Reached):
        main(argv)
    model, data = got["model"], got["data"]
    model_fields, data_fields, call = (source_fields(s) for s in TEXTURE_SOURCES)
    default_model, default_data = TextureConfig(), TextureDataConfig()
    for name, value in values.items():
        if name == "variant":
            held = ("warp" if model.warp_identity else model.variant)
            assert held == variant
        elif name == "no_temporal":
            assert data.temporal is False
        elif name in ("map_size", "map_region") and not maps:
            assert getattr(model, name) == getattr(default_model, name), name  # adain: no maps
        elif name == "map_region" and variant == "attention":
            assert model.map_region == "all"  # the attention variant's maps act anywhere
        else:  # a value the command's default (its preset, else the field's) would not give
            held = getattr(model, name) if name in model_fields else getattr(data, name) if name in data_fields \
                else got[name]
            field = model_fields.get(name) or data_fields.get(name) or call[name]
            assert held == value != TEXTURE_PRESETS.get(name, field.default), name
    got.clear()
    with pytest.raises(Reached):
        main(["train", "texture", str(tmp_path), "-o", str(tmp_path / "run"), "--variant", variant])
    presets = {k: v for k, v in TEXTURE_PRESETS.items() if k != "variant"}
    assert got["model"] == generator_config(variant, **{k: v for k, v in presets.items() if k in model_fields})
    assert got["data"].references_from == TEXTURE_PRESETS["references_from"] != default_data.references_from
    assert got["sample_every"] == call["sample_every"].default
    for name, preset in presets.items():  # a preset is a real difference from the library's default, on purpose
        assert preset != (model_fields.get(name) or data_fields[name]).default, name
    assert [o.name for o in TEXTURE if o.default is not FIELD] == list(TEXTURE_PRESETS)


def test_every_adapt_option_reaches_adapt_person(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``talkface adapt``: each row of ADAPT naming a keyword of adapt_person reaches it (defaults: its own)."""
    import talkface.pipeline as pipeline
    from talkface.cli import main
    from talkface.cli_groups import ADAPT, ADAPT_SOURCE
    from talkface.cli_options import source_fields

    got = _record_kwargs(monkeypatch, pipeline, "adapt_person")
    values = {"model": str(DEFAULT_MODEL), "frames": 5, "steps": 3, "lr": 0.01, "seed": 4, "threads": 1}
    assert {o.name for o in ADAPT} == set(values) | {"inputs", "output", "quiet"}, "every ADAPT row is checked"
    argv = ["adapt", str(EXAMPLES / "face.png"), "-o", str(tmp_path / "p.pt"), "-q"]
    for name, value in values.items():
        argv += ["--" + name, str(value)]
    with pytest.raises(Reached):
        main(argv)
    keywords = source_fields(ADAPT_SOURCE)
    for name, value in values.items():
        assert got[name] == value != keywords[name].default, name
    got.clear()
    with pytest.raises(Reached):
        main(["adapt", str(EXAMPLES / "face.png"), "-o", str(tmp_path / "p.pt")])
    assert {k: v for k, v in got.items() if k != "progress"} == {k: keywords[k].default for k in values}


def test_every_lipread_option_reaches_train_lipreader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``talkface train lipread``: each row of LIPREAD reaches train_lipreader (--cache as cache_dir, the id lists
    as read from their files, the utterances excluded together with the file's); defaults: train_lipreader's."""
    import talkface.eval.lipread_train as lipread_train
    from talkface.cli import main
    from talkface.cli_options import source_fields
    from talkface.cli_parser import LIPREAD, LIPREAD_SOURCE

    got = _record_kwargs(monkeypatch, lipread_train, "train_lipreader")
    lists = {name: tmp_path / f"{name}.txt" for name in ("train_list", "val_list", "exclude_file")}
    for name, path in lists.items():
        path.write_text(f"{name}/a {name}/b\n")
    cache = str(tmp_path / "cache")
    rows = {"train_list": "train_ids", "val_list": "val_ids", "exclude": "exclude", "exclude_file": "exclude",
            "cache_dir": "cache_dir"}
    assert {o.name for o in LIPREAD} == set(rows), "every LIPREAD row is checked"
    argv = ["train", "lipread", str(tmp_path), "-o", str(tmp_path / "run"), "--exclude", "bbaf2n", "--cache", cache,
            *(a for name, path in lists.items() for a in ("--" + name.replace("_", "-"), str(path)))]
    with pytest.raises(Reached):
        main(argv)
    assert got["train_ids"] == ["train_list/a", "train_list/b"] and got["val_ids"] == ["val_list/a", "val_list/b"]
    assert got["exclude"] == ["bbaf2n", "exclude_file/a", "exclude_file/b"]
    assert got["cache_dir"] == cache != source_fields(LIPREAD_SOURCE)["cache_dir"].default
    got.clear()
    with pytest.raises(Reached):
        main(["train", "lipread", str(tmp_path), "-o", str(tmp_path / "run")])
    assert got["cache_dir"] is None and got["exclude"] == [] and got["train_ids"] is None


def test_every_e2e_option_reaches_its_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``talkface train e2e``: each row of E2E naming an E2EConfig or E2EDataConfig field lands there, field by field
    (--spp as sequence_discriminator 'spp', --init as train_e2e's init); options not given keep the config's."""
    import talkface.e2e as e2e
    from talkface.cli import main
    from talkface.cli_parser import E2E
    from talkface.e2e import E2EConfig, E2EDataConfig

    got: list[Any] = []

    def train_e2e(out: Any, data: Any, model: Any, train: Any, init: Any = None) -> None:
        got.extend([data, model, init])
        raise Reached

    monkeypatch.setattr(e2e, "train_e2e", train_e2e)
    ckpt = tmp_path / "me.ckpt"
    ckpt.write_bytes(b"")
    values: dict[str, Any] = {
        "use_frame_discriminator": False, "use_sequence_discriminator": False, "spp": "spp", "l1_region": "full",
        "l1_weight": 50.0, "output_mode": "residual", "mask_weight": 0.5, "mouth_weight": 2.0, "init": str(ckpt),
        "audio_encoder": "mfcc", "window_s": 0.3, "image_size": 64, "base_channels": 16, "audio_base_channels": 8,
        "audio_code_size": 32, "context_size": 64, "disc_frame_code_size": 16, "disc_audio_code_size": 16,
        "disc_rnn_size": 32, "frame_samples": 2, "lr_frame_discriminator": 1e-5, "lr_sequence_discriminator": 2e-5,
        "lr_decay_start_epoch": 3, "min_frames": 4, "max_frames": 40, "samples_per_clip": 2, "max_train_clips": 3,
        "max_val_clips": 0, "still": "first", "mirror": False, "augment": True}
    assert {o.name for o in E2E} == set(values), "every E2E row is checked"
    argv = ["train", "e2e", str(tmp_path), "-o", str(tmp_path / "run")]
    for opt in E2E:
        flag, value = opt.flags(None)[-1], values[opt.name]
        if opt.name in ("use_frame_discriminator", "use_sequence_discriminator", "mirror", "augment", "spp"):
            argv += [flag if flag.startswith("--no-") or opt.name in ("augment", "spp") else "--no-" + flag[2:]]
        else:
            argv += [flag, str(value)]
    with pytest.raises(Reached):
        main(argv)
    data, model, init = got
    for name, value in values.items():
        if name == "spp":
            assert model.sequence_discriminator == "spp" != E2EConfig().sequence_discriminator
        elif name == "init":
            assert init == value
        else:
            built, default = (model, E2EConfig()) if hasattr(model, name) else (data, E2EDataConfig(root=""))
            assert getattr(built, name) == value != getattr(default, name), name
    got.clear()
    with pytest.raises(Reached):
        main(["train", "e2e", str(tmp_path), "-o", str(tmp_path / "run")])
    assert got[1] == E2EConfig() and got[0] == E2EDataConfig(root=str(tmp_path)) and got[2] is None
