"""The one training core every talkface model uses.

Three pieces:

* :class:`TrainConfig` — how to train (steps, batch size, learning rate, seed, devices). Its
  ``accelerator``/``devices``/``strategy``/``precision``/``num_nodes`` go straight to
  :class:`lightning.Trainer`, so DDP on several GPUs or nodes needs no code change
  (``devices=4, strategy="ddp"``; under SLURM/torchrun the environment is picked up by Lightning).
* :class:`TalkfaceModule` — the base :class:`lightning.LightningModule`. A model subclass holds a
  model-config dataclass (``config_class``), which is stored in the checkpoint's hyper-parameters so
  :func:`load_module` rebuilds the model from the checkpoint alone. GANs set
  ``automatic_optimization = False`` (manual optimisation, one optimiser per network) and declare how
  many optimiser steps they take per batch in :attr:`TalkfaceModule.optimizer_steps_per_batch`.
* :func:`fit` — seeds everything, writes ``config.json`` beside the checkpoints, keeps ``last.ckpt``
  plus periodic ``step=NNNNNNN.ckpt``, resumes from ``out_dir/last.ckpt`` automatically, shows a
  progress bar and logs losses and samples/s with Lightning's ``CSVLogger``, joined over restarts
  into ``out_dir/metrics.csv``.

Steps are counted in *batches* everywhere in :class:`TrainConfig` (Lightning's ``global_step`` counts
optimiser steps, which is twice the number of batches for a GAN with a generator and a discriminator).
"""

from __future__ import annotations

import csv
import dataclasses
import importlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger

from talkface.config_checks import check_fields
from talkface.errors import InputError
from talkface.io.atomic import atomic_path, save_torch

# checkpoint reading lives in talkface.io.checkpoint (no Lightning); re-exported here
from talkface.io.checkpoint import EXPORT_KEY, MODULE_CLASS_KEY, dataclass_from_dict, read_checkpoint
from talkface.train.callbacks import (
    AtomicCheckpointIO,
    BatchStepCheckpoint,
    BestCheckpoint,
    CallTimer,
    SamplesPerSecond,
)
from talkface.train.callbacks import batch_size_of as batch_size_of  # re-exported (callbacks moved out of here)

CONFIG_FILE = "config.json"
LAST_CHECKPOINT = "last.ckpt"
#: checkpoint with the best validation score of a run (see :attr:`TalkfaceModule.best_metric`)
BEST_CHECKPOINT = "best.ckpt"

T = TypeVar("T")


@dataclass
class TrainConfig:
    """How to train a model; shared by every talkface model.

    Attributes:
        max_steps: number of training batches (iterations) to run in total, counting those of a
            run that is resumed.
        batch_size: samples per batch per device.
        lr: learning rate of the optimisers (Adam); the papers use 2e-4 (l-GAN, blinks) and 1e-4 (t-GAN).
        seed: seed of Python, NumPy and torch (and of the data-loader workers).
        accelerator: Lightning accelerator (``"auto"``, ``"cpu"``, ``"gpu"``, ...).
        devices: Lightning devices (``"auto"``, a count, or a list of ids).
        strategy: Lightning strategy (``"auto"``, ``"ddp"``, ...).
        precision: Lightning precision (``"auto"`` = 32-bit, ``"bf16-mixed"``, ``"16-mixed"``, ...).
        num_nodes: number of machines for multi-node training.
        log_every_n_steps: write losses to ``metrics.csv`` every this many batches.
        checkpoint_every_n_steps: write ``step=NNNNNNN.ckpt`` (and refresh ``last.ckpt``) every this
            many batches; ``last.ckpt`` is always written at the end.
        num_workers: data-loader worker processes.
        val_every_n_steps: run validation every this many batches (None: never; needs a val loader).
        progress_bar: show a progress bar.
        num_threads: if set, ``torch.set_num_threads`` while training (CPU training on shared
            machines: more threads than free cores slows torch down many times).
        max_minutes: stop after this much training time in this call (Lightning ``max_time``), writing
            ``last.ckpt``; the next call resumes. For time-limited machines (e.g. 10-minute GPU calls).
    """

    max_steps: int = 10_000
    batch_size: int = 32
    lr: float = 2e-4
    seed: int = 0
    accelerator: str = "auto"
    devices: int | str | list[int] = "auto"
    strategy: str = "auto"
    precision: str = "auto"
    num_nodes: int = 1
    log_every_n_steps: int = 50
    checkpoint_every_n_steps: int = 1000
    num_workers: int = 0
    val_every_n_steps: int | None = None
    progress_bar: bool = True
    num_threads: int | None = None
    max_minutes: float | None = None

    def __post_init__(self) -> None:
        check_fields(self, ("max_steps", "batch_size", "lr", "seed", "num_nodes", "log_every_n_steps",
                            "checkpoint_every_n_steps", "num_workers", "val_every_n_steps", "num_threads",
                            "max_minutes"))


class TalkfaceModule(L.LightningModule):
    """Base of every talkface model: a LightningModule built from one model-config dataclass.

    Subclasses set ``config_class`` to their config dataclass and build their networks in
    ``__init__(self, config)`` after calling ``super().__init__(config)``. The config is available as
    ``self.config`` and stored (as a dict) in the checkpoint's hyper-parameters; data-dependent
    tensors (PCA bases, mean faces, feature statistics) must be registered buffers of fixed shape so
    they travel in the ``state_dict``.

    GANs set ``automatic_optimization = False`` in ``__init__``, return one optimiser per network from
    ``configure_optimizers`` and step them in ``training_step`` (``self.optimizers()``,
    ``self.manual_backward``); they override :attr:`optimizer_steps_per_batch`.

    Models that validate name the score that picks their best checkpoint in :attr:`best_metric`
    (``("val/lmd", "min")``); :func:`fit` then keeps ``best.ckpt`` when validating.

    Args:
        config: the model config (a ``config_class`` instance, or its ``asdict`` form as stored in a
            checkpoint; None for the defaults).
    """

    config_class: ClassVar[type[Any]]
    #: (logged metric, "min" or "max") that chooses ``best.ckpt`` when the run validates; None: no best.ckpt
    best_metric: ClassVar[tuple[str, str] | None] = None

    def __init__(self, config: Any = None) -> None:
        super().__init__()
        if config is None:
            config = self.config_class()
        elif isinstance(config, Mapping):
            config = dataclass_from_dict(self.config_class, config)
        elif not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config)!r}")
        self.config = config
        self.save_hyperparameters({"config": asdict(config)})
        self.lr = TrainConfig.lr

    @property
    def optimizer_steps_per_batch(self) -> int:
        """How many ``optimizer.step()`` calls one training batch makes (1; a GAN's G + D step: 2)."""
        return 1

    def configure_training(self, train_config: TrainConfig) -> None:
        """Take the settings of a run that the model needs (the learning rate); called by :func:`fit`."""
        self.lr = train_config.lr

    def log_losses(self, losses: Mapping[str, torch.Tensor], prefix: str = "train", prog_bar: bool = True) -> None:
        """Log a dict of scalar losses as ``{prefix}/{name}`` (CSV and progress bar).

        Args:
            losses: name -> scalar tensor.
            prefix: ``"train"`` or ``"val"``.
            prog_bar: also show them on the progress bar.
        """
        on_step = prefix == "train"
        for name, value in losses.items():
            self.log(
                f"{prefix}/{name}",
                value.detach(),
                on_step=on_step,
                on_epoch=not on_step,
                prog_bar=prog_bar,
                sync_dist=not on_step,
            )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Record the class so :func:`load_module` can rebuild the model from the checkpoint alone."""
        checkpoint[MODULE_CLASS_KEY] = f"{type(self).__module__}:{type(self).__qualname__}"


def _call_timer(train_config: TrainConfig) -> list[Callback]:
    if train_config.max_minutes is None:
        return []
    return [CallTimer(duration=timedelta(minutes=train_config.max_minutes), interval="step")]


def _jsonable(obj: Any) -> Any:
    """A config (dataclass or mapping) as JSON-ready data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


def write_config(out_dir: str | os.PathLike[str], configs: Mapping[str, Any]) -> Path:
    """Write ``out_dir/config.json`` holding every config of a run (atomically).

    Args:
        out_dir: the run folder.
        configs: name -> config dataclass (or mapping), e.g. ``{"train": ..., "model": ..., "data": ...}``.

    Returns:
        The path written.
    """
    path = Path(out_dir) / CONFIG_FILE
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(configs), indent=2, sort_keys=True) + "\n")
    return path


def fit(
    module: TalkfaceModule,
    datamodule: L.LightningDataModule,
    out_dir: str | os.PathLike[str],
    train_config: TrainConfig,
    extra_configs: Mapping[str, Any] | None = None,
    callbacks: list[Callback] | None = None,
) -> Path:
    """Train ``module`` on ``datamodule``; resume from ``out_dir/last.ckpt`` if it exists.

    Writes into ``out_dir``: ``config.json`` (train, model, data and ``extra_configs``),
    ``last.ckpt`` (refreshed every ``checkpoint_every_n_steps`` batches and at the end),
    ``step=NNNNNNN.ckpt`` every ``checkpoint_every_n_steps`` batches, ``best.ckpt`` (if the run
    validates and the model names a :attr:`~TalkfaceModule.best_metric`: the weights of the best
    validation so far, over every resume: :class:`~talkface.train.callbacks.BestCheckpoint`),
    ``metrics.csv`` (losses and samples/s by batch step, all (re)starts joined, see
    :func:`merge_metrics`) and
    ``logs/version_N/`` (the raw CSV log and ``hparams.yaml`` of each start).

    Args:
        module: the model to train.
        datamodule: its data; a ``config`` dataclass attribute, if any, is saved in ``config.json``.
        out_dir: the run folder (created).
        train_config: how to train.
        extra_configs: more configs to save in ``config.json`` (name -> dataclass or mapping).
        callbacks: extra Lightning callbacks.

    Returns:
        Path of ``out_dir/last.ckpt``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    if train_config.num_threads is not None:
        torch.set_num_threads(train_config.num_threads)
    try:
        return _fit(module, datamodule, out, train_config, extra_configs, callbacks)
    finally:
        torch.set_num_threads(threads)


def _fit(
    module: TalkfaceModule,
    datamodule: L.LightningDataModule,
    out: Path,
    train_config: TrainConfig,
    extra_configs: Mapping[str, Any] | None,
    callbacks: list[Callback] | None,
) -> Path:
    """:func:`fit` after the thread setting."""
    L.seed_everything(train_config.seed, workers=True, verbose=False)
    module.configure_training(train_config)
    if hasattr(datamodule, "batch_size"):
        datamodule.batch_size = train_config.batch_size
    if hasattr(datamodule, "num_workers"):
        datamodule.num_workers = train_config.num_workers

    configs: dict[str, Any] = {
        "train": train_config,
        "model": module.config,
        "model_class": f"{type(module).__module__}:{type(module).__qualname__}",
    }
    data_config = getattr(datamodule, "config", None)
    if dataclasses.is_dataclass(data_config) and not isinstance(data_config, type):
        # record the loader settings actually used (fit sets them from the train config)
        names = {f.name for f in dataclasses.fields(data_config)}
        updates = {k: v for k, v in (("batch_size", train_config.batch_size),
                                     ("num_workers", train_config.num_workers)) if k in names}
        data_config = dataclasses.replace(data_config, **updates)
        datamodule.config = data_config  # type: ignore[attr-defined]
    if data_config is not None:
        configs["data"] = data_config
    configs.update(extra_configs or {})

    steps = module.optimizer_steps_per_batch
    checkpoint = BatchStepCheckpoint(
        steps_per_batch=steps,
        dirpath=out,
        filename="step={step:07d}",
        auto_insert_metric_name=False,
        every_n_train_steps=train_config.checkpoint_every_n_steps * steps,
        save_top_k=-1,
        save_last=True,
        save_on_train_epoch_end=False,
    )
    trainer = L.Trainer(
        accelerator=train_config.accelerator,
        devices=train_config.devices,
        strategy=resolve_strategy(train_config, module),
        precision=cast(Any, None if train_config.precision == "auto" else train_config.precision),
        num_nodes=train_config.num_nodes,
        max_steps=train_config.max_steps * steps,
        max_epochs=-1,
        logger=CSVLogger(save_dir=out, name="logs"),  # logs/version_N: one per (re)start, never overwritten
        callbacks=[checkpoint, *_best_checkpoint(module, out, train_config), SamplesPerSecond(), *(callbacks or []),
                   *_call_timer(train_config)],
        plugins=[AtomicCheckpointIO()],
        log_every_n_steps=train_config.log_every_n_steps,
        enable_progress_bar=train_config.progress_bar,
        enable_model_summary=False,
        val_check_interval=train_config.val_every_n_steps,
        check_val_every_n_epoch=None if train_config.val_every_n_steps else 1,
        limit_val_batches=None if train_config.val_every_n_steps else 0,
        num_sanity_val_steps=0,
        deterministic=False,
    )
    if trainer.is_global_zero:
        write_config(out, configs)
    last = out / LAST_CHECKPOINT
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=last if last.is_file() else None)
        trainer.save_checkpoint(last)
    finally:
        if trainer.is_global_zero:
            merge_metrics(out)
    return last


def _best_checkpoint(module: TalkfaceModule, out: Path, train_config: TrainConfig) -> list[Callback]:
    """A callback keeping ``best.ckpt`` (the module's :attr:`~TalkfaceModule.best_metric`) if the run validates."""
    if module.best_metric is None or not train_config.val_every_n_steps:
        return []
    metric, mode = module.best_metric
    return [BestCheckpoint(dirpath=out, filename=Path(BEST_CHECKPOINT).stem, monitor=metric, mode=mode,
                           save_top_k=1, auto_insert_metric_name=False, save_on_train_epoch_end=False,
                           enable_version_counter=False)]


def _device_count(train_config: TrainConfig) -> int:
    """Devices per node that Lightning will use for ``train_config`` (1 on a CPU-only machine with "auto")."""
    devices = train_config.devices
    if isinstance(devices, list):
        return len(devices)
    if isinstance(devices, int) or (isinstance(devices, str) and devices.lstrip("-").isdigit()):
        n = int(devices)
        if n != -1:
            return n
    elif devices != "auto":
        return 1
    if train_config.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.cuda.device_count()
    return 1


def resolve_strategy(train_config: TrainConfig, module: L.LightningModule) -> str:
    """The Lightning strategy to use.

    A model with manual optimisation (a GAN: separate generator and discriminator backward passes,
    each leaving the other network without gradients) needs DDP's unused-parameter detection;
    ``"auto"``/``"ddp"``/``"ddp_spawn"``/... are switched to their ``*_find_unused_parameters_true``
    form when training is distributed, so GANs run on several GPUs or nodes with no code change.

    Args:
        train_config: the run's config (``strategy``, ``devices``, ``num_nodes``, ``accelerator``).
        module: the model.

    Returns:
        A strategy name for :class:`lightning.Trainer`.
    """
    strategy = train_config.strategy
    distributed = train_config.num_nodes > 1 or _device_count(train_config) > 1
    if module.automatic_optimization or not distributed or "find_unused" in strategy:
        return strategy
    if strategy == "auto":
        return "ddp_find_unused_parameters_true"
    if strategy in ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook"):
        return f"{strategy}_find_unused_parameters_true"
    return strategy


def merge_metrics(out_dir: str | os.PathLike[str]) -> Path:
    """Join the CSV logs of every (re)start of a run into ``out_dir/metrics.csv``.

    Each start of :func:`fit` logs into its own ``logs/version_N/metrics.csv``. Rows are taken in
    version order; when a run was resumed from an earlier checkpoint, rows of older versions at or
    after the first step of a newer version are dropped, so every step appears once.

    Args:
        out_dir: the run folder.

    Returns:
        Path of ``out_dir/metrics.csv`` (written atomically; empty when nothing was logged).
    """
    out = Path(out_dir)
    versions = sorted(
        (p for p in (out / "logs").glob("version_*/metrics.csv")),
        key=lambda p: int(p.parent.name.rpartition("_")[2]) if p.parent.name.rpartition("_")[2].isdigit() else -1,
    )
    rows: list[dict[str, str]] = []
    fields: list[str] = []
    for path in versions:
        with open(path, newline="") as fh:
            new = list(csv.DictReader(fh))
        steps = [int(float(r["step"])) for r in new if r.get("step")]
        if steps:
            first = min(steps)
            rows = [r for r in rows if not r.get("step") or int(float(r["step"])) < first]
        rows += new
        for row in new:
            fields += [k for k in row if k not in fields]
    fields.sort(key=lambda k: (k != "step", k))
    path = out / "metrics.csv"
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


#: Model classes that moved, by the name older checkpoints record -> where they live now.
MOVED_MODULE_CLASSES: dict[str, str] = {
    "talkface.eval.sync:SyncNetModule": "talkface.eval.sync.module:SyncNetModule",
    "talkface.live.model:StreamMotion": "talkface.live.train:StreamMotion",
}


def load_module(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> TalkfaceModule:
    """Rebuild the trained model of a checkpoint written by :func:`fit`, in eval mode.

    The model class is read from the checkpoint (a class that has moved since: from
    :data:`MOVED_MODULE_CLASSES`), built from its stored config and given the stored
    weights and buffers.

    Args:
        path: a ``.ckpt`` file.
        map_location: device to load the tensors onto.

    Returns:
        The model (a :class:`TalkfaceModule` subclass), ``eval()``-ed.

    Raises:
        InputError: the file is missing or is not a talkface checkpoint.
    """

    ckpt = read_checkpoint(path, map_location)
    recorded = str(ckpt[MODULE_CLASS_KEY])
    module_name, _, qualname = MOVED_MODULE_CLASSES.get(recorded, recorded).partition(":")
    if module_name.split(".")[0] != "talkface" and module_name not in sys.modules:
        # importing a module runs its code: only talkface's, or one the program has imported itself
        raise InputError(path, f"checkpoint of unknown model class {ckpt[MODULE_CLASS_KEY]}")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise InputError(path, f"checkpoint of unknown model class {ckpt[MODULE_CLASS_KEY]}") from exc
    if not (isinstance(obj, type) and issubclass(obj, TalkfaceModule)):
        raise InputError(path, f"checkpoint of unknown model class {ckpt[MODULE_CLASS_KEY]}")
    module = obj(config=ckpt.get("hyper_parameters", {}).get("config"))
    exported = ckpt.get(EXPORT_KEY)
    if exported is None:
        module.load_state_dict(ckpt["state_dict"])
    else:  # an inference export: reduced precision, training-only parts left out
        reference = module.state_dict()
        state = {k: v.to(reference[k].dtype) if k in reference else v for k, v in ckpt["state_dict"].items()}
        result = module.load_state_dict(state, strict=False)
        dropped = tuple(exported.get("dropped", ()))
        missing = [k for k in result.missing_keys if not k.startswith(dropped)]
        if missing or result.unexpected_keys:
            raise InputError(path, f"exported weights do not match the model ({len(missing)} missing, "
                             f"{len(result.unexpected_keys)} unexpected tensors)")
    module.on_load_checkpoint(ckpt)
    return module.eval()



M = TypeVar("M", bound=TalkfaceModule)


def load_module_as(
    path: str | os.PathLike[str], cls: type[M], what: str, map_location: str | torch.device = "cpu"
) -> M:
    """:func:`load_module`, refusing a checkpoint of another model class.

    Args:
        path: a ``.ckpt`` (or :func:`export_module` export).
        cls: the class the checkpoint must hold.
        what: the model's name with its article, for the error, e.g. ``"an l-GAN"``.
        map_location: device to load the tensors onto.

    Raises:
        InputError: missing/unreadable file, or a checkpoint of another model.
    """

    module = load_module(path, map_location)
    if not isinstance(module, cls):
        raise InputError(path, f"not {what} checkpoint (it holds a {type(module).__name__})")
    return module


def export_module(
    checkpoint: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    dtype: torch.dtype = torch.float16,
    drop: Sequence[str] = ("discriminator.", "perceptual."),
) -> Path:
    """Write an inference-only copy of a training checkpoint: parameters in ``dtype``, no optimiser state.

    The result loads with :func:`load_module` like the checkpoint itself (weights are cast back to
    the model's dtype); the parts named by ``drop`` (discriminators, loss networks) are left out
    and are simply untrained if the export is loaded. Written atomically.

    Args:
        checkpoint: a ``.ckpt`` written by :func:`fit`.
        out_path: file to write (``.pt``).
        dtype: storage dtype of floating-point tensors (float16 halves the size; float32 keeps it).
        drop: state-dict key prefixes to leave out.

    Returns:
        ``out_path``.
    """
    ckpt = read_checkpoint(checkpoint)
    parameters = {name for name, _ in load_module(checkpoint).named_parameters()}
    state = {  # learned weights in ``dtype``; buffers (statistics, calibrations) keep their precision
        k: (v.to(dtype) if k in parameters and v.is_floating_point() else v).contiguous()
        for k, v in ckpt["state_dict"].items()
        if not k.startswith(tuple(drop))
    }
    out = {
        MODULE_CLASS_KEY: ckpt[MODULE_CLASS_KEY],
        "hyper_parameters": {"config": ckpt.get("hyper_parameters", {}).get("config")},
        "state_dict": state,
        "global_step": ckpt.get("global_step"),
        EXPORT_KEY: {"dropped": list(drop), "dtype": str(dtype).replace("torch.", ""), "source": str(checkpoint)},
    }
    return save_torch(out, out_path)
