"""MAML meta-training of the texture GAN (Das et al. 2020, Sec. 3.4 "Meta-learning", Fig. 3, Sec. 4.3).

Tasks are subjects: one task holds one speaker's reference images, d_trn support frames and d_qry
query frames (:class:`talkface.texture.data.SpeakerTaskDataset`). For each task (Fig. 3):

1. the global weights (GW) θ are copied to fast weights (FW) θ_0;
2. for i = 1..m the fast weights take one plain gradient step of fixed size α = 1e-3 on the support
   loss (eq. 11 for G_T; eq. 9 for D_T), ``θ_i = θ_{i-1} - α ∇L_trn(θ_{i-1})``, evaluated with
   :func:`torch.func.functional_call` so the module's own weights never change in the inner loop;
3. after each inner step the query loss ``L^i = L_qry(θ_i)`` is measured; ``L = L^1 + ... + L^m``;
4. the global weights are updated from ``∇_θ L`` (averaged over the tasks of a meta-batch) by Adam
   with learning rate 1e-4 (the meta-optimiser; ``TrainConfig.lr``).

First-order MAML (default) uses ``Σ_i ∇_{θ_i} L^i(θ_i)`` as the gradient (no second derivatives);
``first_order=False`` back-propagates through the inner updates (``create_graph=True``).

Both networks of the GAN have fast weights (groups ``"g"`` and ``"d"``): in each inner step D_T takes
its step on the support set first, then G_T against the updated D_T; the query losses give G_T's and
D_T's outer gradients. With ``adapt_discriminator=False`` D_T is left out of the inner loop and trained
on the query sets like an ordinary GAN discriminator.

:class:`MetaTextureGAN` is a :class:`talkface.texture.tgan.TextureGAN` whose ``training_step`` does the
above, so it plugs into :func:`talkface.train.core.fit` like every model; its checkpoints load with
:func:`talkface.train.core.load_module` and are fine-tuned by :func:`talkface.texture.adapt.adapt`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from talkface.texture.tgan import GeneratorOutput, SampleGrid, TextureConfig, TextureGAN, batch_psnr
from talkface.train.core import TrainConfig, fit

__all__ = [
    "MetaConfig",
    "MetaTextureConfig",
    "MAMLResult",
    "Objective",
    "maml_gradients",
    "MetaTextureGAN",
    "meta_train_texture",
]

#: A loss of the current fast weights ``{group: {name: tensor}}``.
Objective = Callable[[Mapping[str, Mapping[str, torch.Tensor]]], torch.Tensor]


@dataclass
class MetaConfig:
    """MAML settings (Das et al. Sec. 3.4 and 4.3).

    Attributes:
        inner_lr: fixed inner-loop step size α of the fast weights (1e-3, Sec. 4.3).
        inner_steps: m, inner iterations per task.
        first_order: first-order MAML (no second derivatives); False: full second-order MAML.
        adapt_discriminator: give D_T fast weights too (the whole t-GAN is meta-learned, Fig. 3).
    """

    inner_lr: float = 1e-3
    inner_steps: int = 1
    first_order: bool = True
    adapt_discriminator: bool = True


@dataclass
class MetaTextureConfig(TextureConfig):
    """A :class:`TextureConfig` plus the MAML settings (stored in the checkpoint)."""

    meta: MetaConfig = field(default_factory=MetaConfig)


@dataclass
class MAMLResult:
    """Outcome of :func:`maml_gradients` for one task.

    Attributes:
        gradients: ``{group: {name: ∇_θ L}}``, same shapes as the global weights.
        support_losses: per inner step, ``{group: support loss before that step}``.
        query_losses: per inner step, ``{group: query loss L^i after that step}``.
    """

    gradients: dict[str, dict[str, torch.Tensor]]
    support_losses: list[dict[str, float]]
    query_losses: list[dict[str, float]]


def _grads(loss: torch.Tensor, tensors: Sequence[torch.Tensor], create_graph: bool, retain: bool) -> list[torch.Tensor]:
    """Gradients of ``loss`` (zeros where it does not depend on a tensor, or is constant)."""
    if not loss.requires_grad:
        return [torch.zeros_like(t) for t in tensors]
    gs = torch.autograd.grad(loss, list(tensors), create_graph=create_graph, retain_graph=retain, allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for g, t in zip(gs, tensors, strict=True)]


def maml_gradients(
    params: Mapping[str, Mapping[str, torch.Tensor]],
    inner: Sequence[tuple[str, Objective]],
    query: Mapping[str, Objective],
    inner_lr: float = 1e-3,
    inner_steps: int = 1,
    first_order: bool = True,
) -> MAMLResult:
    """Meta-gradient of one task: m inner SGD steps on fast weights, query losses summed (Fig. 3).

    Args:
        params: global weights by group (``{"g": dict(G.named_parameters()), "d": ...}``); not modified.
        inner: ``(group, support objective)`` pairs; in every inner step each objective in turn takes
            one SGD step of size ``inner_lr`` on its group's fast weights.
        query: ``{group: query objective}``; after each inner step its value L^i is added to that
            group's meta-loss ``L = Σ_i L^i``.
        inner_lr: α, the fixed inner step size.
        inner_steps: m.
        first_order: first-order approximation (gradient of L^i at θ_i); else exact second order.

    Returns:
        :class:`MAMLResult` with ``∇_θ L`` per group (zeros for a constant loss).
    """
    if first_order:
        fast = {g: {k: p.detach().clone().requires_grad_(True) for k, p in ps.items()} for g, ps in params.items()}
        acc = {g: {k: torch.zeros_like(p) for k, p in ps.items()} for g, ps in params.items() if g in query}
    else:
        fast = {g: dict(ps) for g, ps in params.items()}
        acc = {}
    meta_loss: dict[str, torch.Tensor] = {}
    support_log: list[dict[str, float]] = []
    query_log: list[dict[str, float]] = []
    for _ in range(inner_steps):
        step_log: dict[str, float] = {}
        for group, objective in inner:
            loss = objective(fast)
            step_log[group] = float(loss.detach())
            names = list(fast[group])
            grads = _grads(loss, [fast[group][n] for n in names], create_graph=not first_order, retain=True)
            updated = {}
            for n, g in zip(names, grads, strict=True):
                w = fast[group][n] - inner_lr * g
                updated[n] = w.detach().requires_grad_(True) if first_order else w
            fast[group] = updated
        support_log.append(step_log)
        q_log: dict[str, float] = {}
        for group, objective in query.items():
            loss = objective(fast)
            q_log[group] = float(loss.detach())
            if first_order:
                names = list(fast[group])
                for n, g in zip(names, _grads(loss, [fast[group][n] for n in names], False, True), strict=True):
                    acc[group][n] += g
            else:
                meta_loss[group] = meta_loss[group] + loss if group in meta_loss else loss
        query_log.append(q_log)
    if not first_order:
        for group, loss in meta_loss.items():
            names = list(params[group])
            grads = _grads(loss, [params[group][n] for n in names], create_graph=False, retain=True)
            acc[group] = dict(zip(names, [g.detach() for g in grads], strict=True))
    return MAMLResult(acc, support_log, query_log)


class MetaTextureGAN(TextureGAN):
    """The t-GAN (or its attention / regression-only variants) meta-trained with MAML.

    Batches are MAML meta-batches from :class:`talkface.texture.data.SpeakerTaskDataset`:
    ``{"support": {key: (T, d_trn, ...)}, "query": {key: (T, d_qry, ...)}}`` for T tasks.

    Args:
        config: a :class:`MetaTextureConfig` (or its dict form).
    """

    config_class = MetaTextureConfig
    config: MetaTextureConfig

    def param_groups(self) -> dict[str, dict[str, torch.Tensor]]:
        """Global weights by group: ``"g"`` (G_T) and, with a discriminator, ``"d"`` (D_T)."""
        groups: dict[str, dict[str, torch.Tensor]] = {"g": dict(self.generator.named_parameters())}
        if self.discriminator is not None:
            groups["d"] = dict(self.discriminator.named_parameters())
        return groups

    def task_objectives(
        self, support: Mapping[str, torch.Tensor], query: Mapping[str, torch.Tensor]
    ) -> tuple[list[tuple[str, Objective]], dict[str, Objective]]:
        """Inner (support) and query objectives of one task for :func:`maml_gradients`.

        Args:
            support: flattened support batch (d_trn samples).
            query: flattened query batch (d_qry samples).

        Returns:
            (inner objectives in update order, query objectives by group).
        """
        cache: dict[str, tuple[int, GeneratorOutput]] = {}

        def generated(
            name: str, batch: Mapping[str, torch.Tensor], f: Mapping[str, Mapping[str, torch.Tensor]]
        ) -> GeneratorOutput:
            key = id(f["g"])
            hit = cache.get(name)
            if hit is None or hit[0] != key:
                hit = (key, self.generate(batch, f["g"]))
                cache[name] = hit
            return hit[1]

        def d_params(f: Mapping[str, Mapping[str, torch.Tensor]]) -> Mapping[str, torch.Tensor] | None:
            return f.get("d")

        def support_g(f: Mapping[str, Mapping[str, torch.Tensor]]) -> torch.Tensor:
            return self.generator_loss(support, generated("support", support, f), d_params(f))[0]

        def support_d(f: Mapping[str, Mapping[str, torch.Tensor]]) -> torch.Tensor:
            return self.discriminator_loss(support, generated("support", support, f).image.detach(), d_params(f))[0]

        def query_g(f: Mapping[str, Mapping[str, torch.Tensor]]) -> torch.Tensor:
            return self.generator_loss(query, generated("query", query, f), d_params(f))[0]

        def query_d(f: Mapping[str, Mapping[str, torch.Tensor]]) -> torch.Tensor:
            return self.discriminator_loss(query, generated("query", query, f).image.detach(), d_params(f))[0]

        inner: list[tuple[str, Objective]] = []
        queries: dict[str, Objective] = {"g": query_g}
        if self.discriminator is not None:
            if self.config.meta.adapt_discriminator:
                inner.append(("d", support_d))
            queries["d"] = query_d
        inner.append(("g", support_g))
        return inner, queries

    def maml_task(self, support: Mapping[str, torch.Tensor], query: Mapping[str, torch.Tensor]) -> MAMLResult:
        """:func:`maml_gradients` of one task (flattened support and query batches)."""
        meta = self.config.meta
        inner, queries = self.task_objectives(support, query)
        return maml_gradients(self.param_groups(), inner, queries, meta.inner_lr, meta.inner_steps, meta.first_order)

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        """One meta-update: MAML gradients of every task of the batch, averaged, one Adam step per network."""
        opt_g, opt_d = self._optimizers()
        groups = self.param_groups()
        tasks = int(batch["support"]["image"].shape[0])
        total = {g: {k: torch.zeros_like(p) for k, p in ps.items()} for g, ps in groups.items()}
        first_support: dict[str, float] = {}
        last_query: dict[str, float] = {}
        for t in range(tasks):
            support = self.flatten_temporal({k: v[t] for k, v in batch["support"].items()})
            query = self.flatten_temporal({k: v[t] for k, v in batch["query"].items()})
            result = self.maml_task(support, query)
            for g, grads in result.gradients.items():
                for k, grad in grads.items():
                    total[g][k] += grad / tasks
            for g, value in result.support_losses[0].items():
                first_support[g] = first_support.get(g, 0.0) + value / tasks
            for g, value in result.query_losses[-1].items():
                last_query[g] = last_query.get(g, 0.0) + value / tasks
        # A surrogate whose gradient is the meta-gradient, so manual_backward (DDP, precision) applies.
        surrogate = sum(
            ((p * total[g][k]).sum() for g, ps in groups.items() for k, p in ps.items()),
            start=torch.zeros((), device=self.device),
        )
        opt_g.zero_grad()
        if opt_d is not None:
            opt_d.zero_grad()
        self.manual_backward(surrogate)
        opt_g.step()
        if opt_d is not None:
            opt_d.step()
        logs = {f"support_{g}": torch.tensor(v) for g, v in first_support.items()}
        logs.update({f"query_{g}": torch.tensor(v) for g, v in last_query.items()})
        self.log_losses(logs)

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        """PSNR and pixel loss of the global weights on the query frames of held-out tasks."""
        query = self.flatten_temporal({k: v.flatten(0, 1) for k, v in batch["query"].items()})
        out = self.generate(query)
        self.log_losses({"psnr": batch_psnr(out.image, query["image"])}, prefix="val", prog_bar=False)

    def sample_batch(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """The first query sample of each task, as a plain batch."""
        return {k: v[:, 0] for k, v in batch["query"].items() if not k.startswith("prev_")}


def meta_train_texture(
    out_dir: str | os.PathLike[str],
    data_config: Any,
    model_config: MetaTextureConfig | None = None,
    train_config: Any = None,
    sample_every: int = 100,
    callbacks: list[Any] | None = None,
) -> Path:
    """Meta-train a texture GAN with MAML through the training core.

    Args:
        out_dir: run folder (resumes from ``out_dir/last.ckpt``); sample grids in ``out_dir/samples``.
        data_config: a :class:`talkface.texture.data.TextureDataConfig`; its datasets should hold several
            speakers (a task per speaker); ``support_size``/``query_size`` are d_trn/d_qry.
        model_config: model and MAML settings (default :class:`MetaTextureConfig`).
        train_config: :class:`talkface.train.core.TrainConfig`; ``batch_size`` = tasks per meta-batch,
            ``lr`` = the meta-optimiser's (Adam) learning rate (default 1e-4, Sec. 4.3).
        sample_every: write a sample grid every this many meta-batches.
        callbacks: extra Lightning callbacks.

    Returns:
        Path of ``out_dir/last.ckpt``.
    """
    from talkface.texture.data import TextureDataModule  # lazy: loads cv2

    model_config = model_config or MetaTextureConfig()
    train_config = train_config or TrainConfig(lr=1e-4, batch_size=2)
    torch.manual_seed(train_config.seed)  # same initial weights as train_texture with the same seed
    module = MetaTextureGAN(model_config)
    datamodule = TextureDataModule(data_config, image_size=model_config.image_size, meta=True)
    extra = [SampleGrid(out_dir, sample_every), *(callbacks or [])]
    return fit(module, datamodule, out_dir, train_config, callbacks=extra)
