"""The shared training core: fit(), checkpoints, resume, config.json, load_module, GAN step counting."""

from __future__ import annotations

import csv
import json
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from talkface.errors import InputError
from talkface.train.core import (
    TalkfaceModule,
    TrainConfig,
    dataclass_from_dict,
    fit,
    load_module,
    read_checkpoint,
    resolve_strategy,
)


@dataclass
class InnerConfig:
    width: int = 4
    sizes: tuple[int, ...] = (1, 2)


@dataclass
class TinyConfig:
    in_dim: int = 3
    inner: InnerConfig = field(default_factory=InnerConfig)
    note: str | None = None


class TinyRegressor(TalkfaceModule):
    """Linear regression, automatic optimisation."""

    config_class = TinyConfig
    config: TinyConfig

    def __init__(self, config: TinyConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.net = nn.Linear(self.config.in_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = (self(x) - y).pow(2).mean()
        self.log_losses({"mse": loss})
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)


class TinyGAN(TalkfaceModule):
    """Two networks, two optimisers, manual optimisation (like every GAN of the project)."""

    config_class = TinyConfig
    config: TinyConfig

    def __init__(self, config: TinyConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.automatic_optimization = False
        self.g = nn.Linear(self.config.in_dim, 1)
        self.d = nn.Linear(1, 1)

    @property
    def optimizer_steps_per_batch(self) -> int:
        return 2

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        opt_g, opt_d = self.optimizers()  # type: ignore[misc]
        fake = self.g(x)
        loss_d = nn.functional.softplus(-self.d(y)).mean() + nn.functional.softplus(self.d(fake.detach())).mean()
        opt_d.zero_grad()
        self.manual_backward(loss_d)
        opt_d.step()
        loss_g = nn.functional.softplus(-self.d(fake)).mean() + (fake - y).pow(2).mean()
        opt_g.zero_grad()
        self.manual_backward(loss_g)
        opt_g.step()
        self.log_losses({"d": loss_d, "g": loss_g})

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return [torch.optim.Adam(self.g.parameters(), lr=self.lr), torch.optim.Adam(self.d.parameters(), lr=self.lr)]


@dataclass
class TinyDataConfig:
    num_samples: int = 256
    seed: int = 3


class TinyData(L.LightningDataModule):
    def __init__(self, config: TinyDataConfig | None = None) -> None:
        super().__init__()
        self.config = config or TinyDataConfig()
        self.batch_size = 8
        self.num_workers = 0
        g = torch.Generator().manual_seed(self.config.seed)
        self.x = torch.randn(self.config.num_samples, 3, generator=g)
        self.y = self.x @ torch.tensor([[1.5], [-2.0], [0.5]]) + 0.3

    def train_dataloader(self) -> DataLoader[Any]:
        return DataLoader(TensorDataset(self.x, self.y), batch_size=self.batch_size, shuffle=True)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """Tiny models on shared cores: more threads only add contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _config(max_steps: int, **kw: Any) -> TrainConfig:
    base: dict[str, Any] = dict(
        max_steps=max_steps,
        batch_size=8,
        lr=0.1,
        accelerator="cpu",
        devices=1,
        log_every_n_steps=1,
        checkpoint_every_n_steps=1000,
        progress_bar=False,
        num_threads=1,
    )
    base.update(kw)
    return TrainConfig(**base)


def _metric(out: Path, name: str) -> list[tuple[int, float]]:
    with open(out / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    return [(int(r["step"]), float(r[name])) for r in rows if r.get(name) not in (None, "")]


def test_fit_lowers_loss_writes_config_and_checkpoints(tmp_path: Path) -> None:
    out = tmp_path / "run"
    last = fit(TinyRegressor(), TinyData(), out, _config(60, checkpoint_every_n_steps=20))
    assert last == out / "last.ckpt" and last.is_file()
    losses = [v for _, v in _metric(out, "train/mse")]
    assert len(losses) >= 50
    assert sum(losses[-5:]) / 5 < 0.1 * sum(losses[:5]) / 5
    speed = [v for _, v in _metric(out, "train/samples_per_s")]
    assert speed and all(v > 0 for v in speed)
    # config.json beside the checkpoints, with every config
    cfg = json.loads((last.parent / "config.json").read_text())
    assert set(cfg) >= {"train", "model", "model_class", "data"}
    assert cfg["train"]["max_steps"] == 60 and cfg["train"]["accelerator"] == "cpu"
    assert cfg["model"]["inner"]["sizes"] == [1, 2]
    assert cfg["data"] == {"num_samples": 256, "seed": 3}
    assert cfg["model_class"].endswith(":TinyRegressor")
    # periodic checkpoints, named by batch count
    assert (out / "step=0000020.ckpt").is_file() and (out / "step=0000040.ckpt").is_file()
    assert read_checkpoint(last)["global_step"] == 60


def test_resume_from_last_continues_step_count(tmp_path: Path) -> None:
    out = tmp_path / "run"
    fit(TinyRegressor(), TinyData(), out, _config(30))
    first = _metric(out, "train/mse")
    assert read_checkpoint(out / "last.ckpt")["global_step"] == 30
    # a new process would build a fresh module: fit must pick up out/last.ckpt by itself
    fit(TinyRegressor(), TinyData(), out, _config(45))
    assert read_checkpoint(out / "last.ckpt")["global_step"] == 45
    after = [(s, v) for s, v in _metric(out, "train/mse") if s >= 30]
    assert [s for s, _ in after] == list(range(30, 45))  # steps continue, metrics.csv appended
    assert [s for s, _ in _metric(out, "train/mse")][:30] == list(range(30))
    # the resumed run starts from the trained weights, not from scratch
    assert after[0][1] < 0.2 * first[0][1]


def test_gan_steps_count_batches(tmp_path: Path) -> None:
    out = tmp_path / "gan"
    last = fit(TinyGAN(), TinyData(), out, _config(6, checkpoint_every_n_steps=3))
    ckpt = read_checkpoint(last)
    assert ckpt["global_step"] == 12  # Lightning counts optimiser steps: 2 per batch
    assert (out / "step=0000003.ckpt").is_file() and (out / "step=0000006.ckpt").is_file()
    steps = [s for s, _ in _metric(out, "train/g")]
    assert steps == list(range(6))
    fit(TinyGAN(), TinyData(), out, _config(8))
    assert read_checkpoint(last)["global_step"] == 16


class ValidatedRegressor(TinyRegressor):
    """Logs a validation score that is best at batch 20 (whatever the weights do)."""

    best_metric = ("val/score", "min")

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        self.log_losses({"score": torch.tensor(abs(self.global_step - 20.0))}, prefix="val")


class ValidatedData(TinyData):
    def val_dataloader(self) -> DataLoader[Any]:
        return DataLoader(TensorDataset(self.x[:16], self.y[:16]), batch_size=8)


def test_best_checkpoint_follows_validation_across_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    fit(ValidatedRegressor(), ValidatedData(), out, _config(15, val_every_n_steps=5))
    assert read_checkpoint(out / "best.ckpt")["global_step"] == 15  # best so far
    fit(ValidatedRegressor(), ValidatedData(), out, _config(40, val_every_n_steps=5))  # resumed
    assert read_checkpoint(out / "last.ckpt")["global_step"] == 40
    assert read_checkpoint(out / "best.ckpt")["global_step"] == 20
    assert not list(out.glob("best-*.ckpt"))  # one file, replaced in place
    assert isinstance(load_module(out / "best.ckpt"), ValidatedRegressor)
    # no validation, or a model without a best_metric: no best.ckpt
    fit(ValidatedRegressor(), ValidatedData(), tmp_path / "noval", _config(10))
    fit(TinyRegressor(), ValidatedData(), tmp_path / "nometric", _config(10, val_every_n_steps=5))
    assert not (tmp_path / "noval" / "best.ckpt").exists() and not (tmp_path / "nometric" / "best.ckpt").exists()


class ScoredRegressor(TinyRegressor):
    """Logs a fixed validation score per batch step (best at step 10 until step 30)."""

    best_metric = ("val/score", "min")
    scores: ClassVar[dict[int, float]] = {5: 3.0, 10: 1.0, 15: 2.0, 20: 4.0, 25: 1.5, 30: 0.5}

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        self.log_losses({"score": torch.tensor(self.scores[self.global_step])}, prefix="val")


def _best(path: Path) -> tuple[int, float]:
    """(batch step, recorded validation score) of a best.ckpt."""
    ckpt = read_checkpoint(path)
    states = [s for k, s in ckpt["callbacks"].items() if k.startswith("ModelCheckpoint") and s["monitor"]]
    return ckpt["global_step"], float(states[0]["best_model_score"])


def test_best_checkpoint_survives_a_resume_in_a_moved_run_folder(tmp_path: Path) -> None:
    # a run folder copied elsewhere between calls (a time-limited GPU machine, another disk) used to
    # lose its best score: the first validation after the resume replaced best.ckpt, however bad
    first = tmp_path / "first"
    fit(ScoredRegressor(), ValidatedData(), first, _config(15, val_every_n_steps=5))
    assert _best(first / "best.ckpt") == (10, 1.0)
    out = tmp_path / "copy"
    shutil.copytree(first, out)
    fit(ScoredRegressor(), ValidatedData(), out, _config(25, val_every_n_steps=5))  # scores 4.0, 1.5: worse
    assert _best(out / "best.ckpt") == (10, 1.0)
    fit(ScoredRegressor(), ValidatedData(), out, _config(30, val_every_n_steps=5))  # 0.5: better
    assert _best(out / "best.ckpt") == (30, 0.5)
    assert _best(first / "best.ckpt") == (10, 1.0)  # the folder it was copied from is left alone
    assert sorted(p.name for p in out.glob("best*")) == ["best.ckpt"]


class ReplayedRegressor(ScoredRegressor):
    """:class:`ScoredRegressor` whose steps replayed after a resume score differently (the data loader is
    not resumable mid-epoch, so a replay sees other batches)."""

    scores: ClassVar[dict[int, float]] = {10: 2.5, 15: 2.0, 20: 4.0}


def test_best_checkpoint_survives_a_resume_from_an_older_last_ckpt(tmp_path: Path) -> None:
    # a run killed after best.ckpt was written but before last.ckpt was refreshed: best.ckpt's own
    # score (1.0 at step 10), not the older state last.ckpt recorded, guards it
    out = tmp_path / "run"
    fit(ScoredRegressor(), ValidatedData(), out, _config(12, val_every_n_steps=5, checkpoint_every_n_steps=5))
    assert _best(out / "best.ckpt") == (10, 1.0)
    shutil.copy(out / "step=0000005.ckpt", out / "last.ckpt")  # as if killed at step 9
    fit(ReplayedRegressor(), ValidatedData(), out, _config(20, val_every_n_steps=5))  # 2.5, 2.0, 4.0: worse
    assert _best(out / "best.ckpt") == (10, 1.0)


def test_best_checkpoint_state_matches_plain_model_checkpoint() -> None:
    # runs saved before BestCheckpoint existed resume with their score, and the other way round
    from lightning.pytorch.callbacks import ModelCheckpoint

    from talkface.train.callbacks import BestCheckpoint

    kw: dict[str, Any] = dict(filename="best", monitor="val/lmd", mode="min", save_top_k=1)
    assert BestCheckpoint(**kw).state_key == ModelCheckpoint(**kw).state_key


class ScheduledRegressor(TinyRegressor):
    """Learning rate decayed every batch (like the e2e model, the lip reader and the sync model)."""

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=True)  # type: ignore[union-attr]
        return super().training_step(batch, batch_idx)

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.Adam(self.parameters(), lr=self.lr)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.9**step)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class TenSecondBatches(L.Callback):
    """Advances a fake clock by 10 s per batch (before the time limit is checked)."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock

    def on_train_batch_end(self, *args: Any) -> None:
        self.clock[0] += 10.0


def test_max_minutes_stop_and_resume_continue_steps_and_lr_schedule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lightning.pytorch.callbacks.timer as timer

    clock = [1000.0]
    monkeypatch.setattr(timer, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    out = tmp_path / "run"
    config = _config(20, max_minutes=1.0)  # 6 batches per call
    fit(ScheduledRegressor(), TinyData(), out, config, callbacks=[TenSecondBatches(clock)])
    assert read_checkpoint(out / "last.ckpt")["global_step"] == 6
    fit(ScheduledRegressor(), TinyData(), out, config, callbacks=[TenSecondBatches(clock)])
    assert read_checkpoint(out / "last.ckpt")["global_step"] == 12
    for _ in range(2):
        fit(ScheduledRegressor(), TinyData(), out, config, callbacks=[TenSecondBatches(clock)])
    assert read_checkpoint(out / "last.ckpt")["global_step"] == 20  # max_steps counts every call's batches
    lrs = _metric(out, "train/lr")
    assert [s for s, _ in lrs] == list(range(20))  # each step once, in order
    assert [lr for _, lr in lrs] == pytest.approx([0.1 * 0.9**s for s in range(20)])  # the schedule continues


def test_load_module_round_trip(tmp_path: Path) -> None:
    config = TinyConfig(in_dim=3, inner=InnerConfig(width=7, sizes=(3, 4, 5)), note="x")
    last = fit(TinyRegressor(config), TinyData(), tmp_path, _config(5))
    trained = TinyRegressor(config)
    trained.load_state_dict(read_checkpoint(last)["state_dict"])
    loaded = load_module(last)
    assert isinstance(loaded, TinyRegressor) and not loaded.training
    assert loaded.config == config  # nested dataclass and tuple restored exactly
    x = torch.randn(4, 3)
    torch.testing.assert_close(loaded(x), trained(x))


def test_load_module_rejects_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="x.ckpt"):
        load_module(bad)
    with pytest.raises(InputError, match="not found"):
        load_module(tmp_path / "missing.ckpt")
    torch.save({"state_dict": {}}, bad)
    with pytest.raises(InputError, match="not a talkface"):
        load_module(bad)


def test_dataclass_from_dict() -> None:
    cfg = dataclass_from_dict(TinyConfig, {"in_dim": 2, "inner": {"width": 1, "sizes": [9]}, "unknown": 1})
    assert cfg == TinyConfig(in_dim=2, inner=InnerConfig(width=1, sizes=(9,)))
    assert math.isclose(dataclass_from_dict(TrainConfig, {"lr": 0.5}).lr, 0.5)


def test_gan_strategy_for_distributed_training() -> None:
    multi = _config(1, devices=2)
    assert resolve_strategy(multi, TinyGAN()) == "ddp_find_unused_parameters_true"
    assert resolve_strategy(_config(1, devices=2, strategy="ddp_spawn"), TinyGAN()) == (
        "ddp_spawn_find_unused_parameters_true"
    )
    assert resolve_strategy(_config(1, num_nodes=2, devices=1, strategy="ddp"), TinyGAN()) == (
        "ddp_find_unused_parameters_true"
    )
    assert resolve_strategy(multi, TinyRegressor()) == "auto"  # automatic optimisation: unchanged
    assert resolve_strategy(_config(1), TinyGAN()) == "auto"  # one device: unchanged


def test_call_timer_ignores_elapsed_time_of_earlier_calls() -> None:
    from datetime import timedelta

    from talkface.train.core import CallTimer

    timer = CallTimer(duration=timedelta(minutes=1))
    timer.load_state_dict({"time_elapsed": {"train": 1e6, "validate": 0.0, "test": 0.0}})
    assert timer.time_elapsed("train") == 0.0
