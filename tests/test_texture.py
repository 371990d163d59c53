"""Tests of the texture stage: t-GAN / attention generators, losses, MAML, K-shot adaptation."""

from __future__ import annotations

import copy
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from talkface.errors import InputError
from talkface.texture.adapt import (
    AdaptConfig,
    adapt,
    choose_references,
    image_metrics,
    load_person_model,
    person_from_model,
    save_person_model,
)
from talkface.texture.attention import AttentionGenerator, compose, region_weights
from talkface.texture.data import (
    FrameStore,
    SpeakerTaskDataset,
    TextureDataConfig,
    TextureDataModule,
    TextureFrameDataset,
    select_frames,
    synthetic_store,
)
from talkface.texture.losses import TextureLossConfig, adversarial_d_loss, adversarial_g_loss, pixel_loss
from talkface.texture.meta import MetaConfig, MetaTextureConfig, MetaTextureGAN, maml_gradients
from talkface.texture.tgan import (
    SampleGrid,
    TextureConfig,
    TextureDiscriminator,
    TextureGAN,
    TextureGenerator,
    adain,
)
from talkface.train.core import TrainConfig, fit, load_module

torch.set_num_threads(1)

NO_VGG = TextureLossConfig(lambda_feat=0.0)


def tiny(**kw: object) -> TextureConfig:
    """A 32² model small enough for CPU tests."""
    args: dict[str, object] = dict(
        image_size=32, base_channels=8, max_channels=32, bottleneck_size=4, attention_size=8, loss=NO_VGG
    )
    args.update(kw)
    return TextureConfig(**args)  # type: ignore[arg-type]


def _batch(b: int, n: int, s: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "landmark_image": torch.rand(b, 3, s, s, generator=g) * 2 - 1,
        "reference_images": torch.rand(b, n, 3, s, s, generator=g) * 2 - 1,
        "reference_landmark_images": torch.rand(b, n, 3, s, s, generator=g) * 2 - 1,
        "image": torch.rand(b, 3, s, s, generator=g) * 2 - 1,
        "points": torch.rand(b, 68, 2, generator=g) * s,
    }


# ------------------------------------------------------------------------------------ architecture


@pytest.mark.parametrize("size,levels", [(128, 5), (256, 6)])
def test_generator_and_discriminator_shapes(size: int, levels: int) -> None:
    cfg = TextureConfig(image_size=size, base_channels=4, max_channels=16)
    assert cfg.num_levels == levels  # 4x4 bottleneck: six levels at 256 (Sec. 4.3), one fewer at 128
    g = TextureGenerator(cfg)
    d = TextureDiscriminator(cfg)
    b = _batch(2, 3, size)
    with torch.no_grad():
        out = g(b["landmark_image"], b["reference_images"], b["reference_landmark_images"])
        logits, feats = d(out.image, b["reference_images"][:, 0], b["landmark_image"])
    assert out.image.shape == (2, 3, size, size)
    assert out.image.abs().max() <= 1.0
    assert logits.shape == (2,)
    assert feats[-1].shape[-1] == 4
    # self-attention sits at the 32x32 level on the way down and up
    assert len(g.landmark_encoder.attention) == 1 and len(g.up_attention) == 1
    assert g.landmark_encoder.blocks[int(next(iter(g.landmark_encoder.attention)))].conv2.out_channels == 16


@pytest.mark.parametrize("size", [128, 256])
def test_attention_generator_shapes(size: int) -> None:
    cfg = TextureConfig(variant="attention", image_size=size, base_channels=4, max_channels=16, bottleneck_size=16)
    g = AttentionGenerator(cfg)
    b = _batch(1, 1, size)
    with torch.no_grad():
        out = g(b["landmark_image"], b["reference_images"], b["reference_landmark_images"])
    assert out.image.shape == (1, 3, size, size)
    assert out.attention is not None and out.attention.shape == (1, 1, size, size)
    assert out.colour is not None and out.colour.shape == (1, 3, size, size)


def test_references_broadcast_and_style_average() -> None:
    g = TextureGenerator(tiny()).eval()
    b = _batch(3, 2, 32)
    with torch.no_grad():
        shared = g(b["landmark_image"], b["reference_images"][:1], b["reference_landmark_images"][:1]).image
        explicit = g(
            b["landmark_image"],
            b["reference_images"][:1].expand(3, -1, -1, -1, -1),
            b["reference_landmark_images"][:1].expand(3, -1, -1, -1, -1),
        ).image
        # the style is the mean over the N references
        e = g.style(b["reference_images"], b["reference_landmark_images"])
        e0 = g.style(b["reference_images"][:, :1], b["reference_landmark_images"][:, :1])
        e1 = g.style(b["reference_images"][:, 1:], b["reference_landmark_images"][:, 1:])
    torch.testing.assert_close(shared, explicit)
    torch.testing.assert_close(e, (e0 + e1) / 2)


def test_adain_output_statistics_equal_style() -> None:
    x = torch.randn(2, 5, 9, 7) * 3 + 2
    mean = torch.tensor([[0.5, -1.0, 2.0, 0.0, 3.0], [1.0, 1.0, -2.0, 0.3, 0.0]])
    std = torch.tensor([[1.0, 0.5, 2.0, 0.1, 4.0], [0.2, 1.5, 1.0, 3.0, 0.7]])
    y = adain(x, mean, std)
    torch.testing.assert_close(y.mean(dim=(2, 3)), mean, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(y.std(dim=(2, 3), unbiased=False), std, atol=1e-4, rtol=1e-4)


def test_adain_parameters_drive_bottleneck() -> None:
    g = TextureGenerator(tiny(decoder_norm="adain"))
    style = torch.randn(2, g.texture_encoder.style_dim)
    params = g.adain_parameters(style)
    assert len(params) == 2 * g.config.bottleneck_blocks + 2 * g.config.num_levels
    x = torch.randn(2, params[0][0].shape[1], 4, 4)
    y = g.bottleneck[0].norm1(x, params[0])
    torch.testing.assert_close(y.mean(dim=(2, 3)), params[0][0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(y.std(dim=(2, 3), unbiased=False), params[0][1].abs(), atol=1e-3, rtol=1e-3)


def test_attention_composition_identity() -> None:
    identity = torch.rand(2, 3, 8, 8) * 2 - 1
    colour = torch.rand(2, 3, 8, 8) * 2 - 1
    assert torch.equal(compose(torch.ones(2, 1, 8, 8), colour, identity), identity)
    assert torch.equal(compose(torch.zeros(2, 1, 8, 8), colour, identity), colour)
    # the generator with att saturated at 1 returns the identity image (first reference) exactly
    g = AttentionGenerator(tiny(variant="attention", bottleneck_size=8, attention_size=16))
    with torch.no_grad():
        g.to_attention.weight.zero_()
        assert g.to_attention.bias is not None
        g.to_attention.bias.fill_(200.0)
    b = _batch(2, 2, 32)
    with torch.no_grad():
        out = g(b["landmark_image"], b["reference_images"], b["reference_landmark_images"])
    assert torch.equal(out.image, b["reference_images"][:, 0])


def test_region_weights_emphasise_mouth_and_eyes() -> None:
    store = synthetic_store(1, 1, 2, 64)
    pts = torch.from_numpy(store.clips[0].points[:1])
    w = region_weights(pts, 64)
    mouth = pts[0, 48:68].mean(0).round().long()
    eye = pts[0, 36:42].mean(0).round().long()
    assert w.shape == (1, 1, 64, 64)
    assert w.min() >= 1.0
    assert w[0, 0, mouth[1], mouth[0]] > 4.0 and w[0, 0, eye[1], eye[0]] > 2.0
    assert w[0, 0, 0, 0] == pytest.approx(1.0, abs=1e-3)


def test_losses() -> None:
    a, b = torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.5)
    assert pixel_loss(a, b, "l2").item() == pytest.approx(0.25)
    assert pixel_loss(a, b, "l1").item() == pytest.approx(0.5)
    weights = torch.ones(1, 1, 4, 4)
    weights[..., 0, 0] = 5.0
    c = b.clone()
    c[..., 0, 0] = 0.0  # error only where the weight is 1
    assert pixel_loss(a, c, "l1", weights).item() < pixel_loss(a, c, "l1").item()
    good, bad = torch.full((4,), 8.0), torch.full((4,), -8.0)
    assert adversarial_d_loss(good, bad, "bce") < 1e-3 and adversarial_g_loss(bad, "bce") > 5
    assert adversarial_d_loss(torch.ones(4), torch.zeros(4), "lsgan").item() == 0.0
    assert adversarial_g_loss(torch.ones(4), "lsgan").item() == 0.0
    assert TextureLossConfig().lambda_pix == 0.5 and TextureLossConfig().alpha2 == 2e-3
    with pytest.raises(ValueError):
        TextureLossConfig(pixel="l3")


# --------------------------------------------------------------------------------------------- data


def test_select_frames_and_samples() -> None:
    kept, rows = select_frames(10, 3, temporal=True)
    assert list(kept[rows[:, 0]]) == [1, 6, 9] or len(rows) == 3
    assert all(kept[p] == kept[t] - 1 for t, p in rows)
    store = synthetic_store(2, 2, 5, 32, temporal=True)
    ds = TextureFrameDataset(store, TextureDataConfig(num_references=2, temporal=True), 4, fixed_seed=1)
    s = ds[0]
    assert s["reference_images"].shape == (2, 3, 32, 32) and s["prev_image"].shape == (3, 32, 32)
    assert torch.equal(ds[0]["image"], s["image"])  # fixed seed: same sample
    task = SpeakerTaskDataset(store, TextureDataConfig(support_size=3, query_size=2), 2, fixed_seed=0)[0]
    assert task["support"]["image"].shape == (3, 3, 32, 32) and task["query"]["image"].shape == (2, 3, 32, 32)
    # one speaker per task: all references identical across the task's samples
    assert torch.equal(task["support"]["reference_images"][0], task["query"]["reference_images"][1])


# --------------------------------------------------------------------------------------------- MAML


def test_maml_gradients_match_analytic_first_and_second_order() -> None:
    torch.manual_seed(0)
    w = torch.randn(3, requires_grad=True)
    xs, ys = torch.randn(6, 3), torch.randn(6)
    xq, yq = torch.randn(5, 3), torch.randn(5)
    alpha = 0.1

    def support(f: dict) -> torch.Tensor:  # type: ignore[type-arg]
        return ((xs @ f["m"]["w"] - ys) ** 2).mean()

    def query(f: dict) -> torch.Tensor:  # type: ignore[type-arg]
        return ((xq @ f["m"]["w"] - yq) ** 2).mean()

    params = {"m": {"w": w}}
    w0 = w.detach().clone()
    grad_s = 2 / 6 * xs.T @ (xs @ w0 - ys)
    w1 = w0 - alpha * grad_s
    grad_q = 2 / 5 * xq.T @ (xq @ w1 - yq)
    hess_s = 2 / 6 * xs.T @ xs
    fo = maml_gradients(params, [("m", support)], {"m": query}, alpha, 1, first_order=True)
    so = maml_gradients(params, [("m", support)], {"m": query}, alpha, 1, first_order=False)
    torch.testing.assert_close(fo.gradients["m"]["w"], grad_q)
    torch.testing.assert_close(so.gradients["m"]["w"], (torch.eye(3) - alpha * hess_s) @ grad_q)
    assert torch.equal(w.detach(), w0)  # the inner loop never touches the global weights
    # two inner steps: L = L^1 + L^2 (first order: gradients at θ_1 and θ_2)
    w2 = w1 - alpha * 2 / 6 * xs.T @ (xs @ w1 - ys)
    two = maml_gradients(params, [("m", support)], {"m": query}, alpha, 2, first_order=True)
    torch.testing.assert_close(two.gradients["m"]["w"], grad_q + 2 / 5 * xq.T @ (xq @ w2 - yq))
    zero = maml_gradients(params, [("m", lambda f: f["m"]["w"].sum() * 0)], {"m": lambda f: torch.zeros(())}, alpha)
    assert torch.count_nonzero(zero.gradients["m"]["w"]) == 0


class _FixedTasks(L.LightningDataModule):
    """One fixed MAML task batch, repeated."""

    def __init__(self, store: object, cfg: TextureDataConfig) -> None:
        super().__init__()
        self.ds = SpeakerTaskDataset(store, cfg, 1, fixed_seed=0)  # type: ignore[arg-type]

    def train_dataloader(self) -> DataLoader:  # type: ignore[type-arg]
        return DataLoader(self.ds, batch_size=1)


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def test_meta_step_updates_global_weights_as_specified(tmp_path: Path) -> None:
    store = synthetic_store(2, 1, 6, 32)
    dcfg = TextureDataConfig(support_size=2, query_size=2)
    torch.manual_seed(0)
    module = MetaTextureGAN(MetaTextureConfig(**vars(tiny(adversarial=False)), meta=MetaConfig(inner_steps=2)))
    expected_module = copy.deepcopy(module)
    batch = _FixedTasks(store, dcfg).ds[0]
    before = _snapshot(module)
    meta_grad = expected_module.maml_task(batch["support"], batch["query"]).gradients["g"]
    lr = 1e-3
    fit(module, _FixedTasks(store, dcfg), tmp_path / "run", TrainConfig(max_steps=1, lr=lr, progress_bar=False))
    after = _snapshot(module)
    # first Adam step: Δθ = -lr · g / (|g| + eps)
    for name, g in meta_grad.items():
        key = f"generator.{name}"
        delta = after[key] - before[key]
        big = g.abs() > 1e-5
        torch.testing.assert_close(delta[big], (-lr * g / (g.abs() + 1e-8))[big], atol=2e-5, rtol=0.05)
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_meta_step_leaves_weights_unchanged_on_zero_loss(tmp_path: Path) -> None:
    store = synthetic_store(2, 1, 4, 32)
    zero = TextureLossConfig(lambda_pix=0.0, lambda_adv=0.0, lambda_feat=0.0)
    module = MetaTextureGAN(MetaTextureConfig(**vars(tiny(adversarial=False, loss=zero))))
    before = _snapshot(module)
    fit(
        module,
        _FixedTasks(store, TextureDataConfig(support_size=2, query_size=2)),
        tmp_path / "run",
        TrainConfig(max_steps=2, lr=1e-2, progress_bar=False),
    )
    after = _snapshot(module)
    assert all(torch.equal(before[k], after[k]) for k in before)


# ------------------------------------------------------------------------------- training, adaptation


def test_fit_texture_gan_writes_samples_and_checkpoint(tmp_path: Path) -> None:
    store = synthetic_store(2, 1, 6, 32, temporal=True)
    cfg = tiny(variant="attention", bottleneck_size=8, attention_size=16)
    module = TextureGAN(cfg)
    dm = TextureDataModule(TextureDataConfig(samples_per_epoch=8, temporal=True), 32, train_store=store)
    last = fit(
        module,
        dm,
        tmp_path / "run",
        TrainConfig(max_steps=2, batch_size=2, progress_bar=False),
        callbacks=[SampleGrid(tmp_path / "run", every_n_batches=1)],
    )
    assert sorted(p.name for p in (tmp_path / "run" / "samples").glob("*.png"))[0] == "step=0000001.png"
    loaded = load_module(last)
    assert isinstance(loaded, TextureGAN) and loaded.config.variant == "attention"
    for k, v in module.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v)


def test_overfit_reduces_loss_and_person_model_roundtrip(tmp_path: Path) -> None:
    store = synthetic_store(1, 1, 6, 32)
    frames, points = store.clips[0].frames, store.clips[0].points
    torch.manual_seed(0)
    model = TextureGAN(tiny(adversarial=False))
    losses: list[float] = []
    person = adapt(
        model,
        frames,
        points,
        AdaptConfig(steps=40, lr=2e-3, batch_size=6),
        callback=lambda step, p, logs: losses.append(logs["pix"]) if logs else None,
    )
    assert np.mean(losses[-5:]) < 0.3 * np.mean(losses[:3])
    assert person.info["steps"] == 40 and person.reference_images.shape == (1, 32, 32, 3)
    assert not torch.equal(  # the model passed in is not modified
        next(model.generator.parameters()), next(person.generator.parameters())
    )
    out = person.generate(points)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert image_metrics(out, frames)["psnr"] > 15
    path = save_person_model(tmp_path / "person.pt", person)
    again = load_person_model(path)
    assert np.array_equal(again.generate(points), out)
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    with pytest.raises(InputError, match="bad.pt"):
        load_person_model(tmp_path / "bad.pt")
    with pytest.raises(InputError, match="not found"):
        load_person_model(tmp_path / "missing.pt")


def test_choose_references_starts_with_neutral() -> None:
    store = synthetic_store(1, 1, 8, 32)
    points = store.clips[0].points
    gap = points[:, 66, 1] - points[:, 62, 1]
    refs = choose_references(points, 3)
    assert refs[0] == int(np.argmin(gap)) and len(set(refs)) == 3


def test_evaluate_store_skips_references_and_reports_copy_baseline() -> None:
    from talkface.texture.adapt import evaluate_store, mouth_box

    store = synthetic_store(2, 1, 6, 32)
    model = TextureGAN(tiny(adversarial=False))
    res = evaluate_store(model, store)
    assert res["frames"] == 10  # 6 targets per clip minus the reference frame
    assert np.isfinite(res["copy_psnr"]) and res["copy_psnr"] > res["psnr"]  # untrained model vs copy
    x0, y0, x1, y1 = mouth_box(store.clips[0].points, 32)
    mouth = store.clips[0].points[:, 48:68]
    assert x0 <= mouth[..., 0].min() and x1 > mouth[..., 0].max() and y0 <= mouth[..., 1].min() < y1


# ------------------------------------------------------------------------------------ warp variant


def test_warp_identity_and_known_translation() -> None:
    from talkface.texture.warp import warp_image

    g = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 32, 32, generator=g)
    points = torch.rand(2, 68, 2, generator=g) * 20 + 6
    same = warp_image(image, points, points, grid_size=None)
    torch.testing.assert_close(same, image, atol=1e-4, rtol=0)
    # landmarks moved 2 px right: the face content (away from the fixed border) moves 2 px right
    ramp = torch.arange(32.0).view(1, 1, 1, 32).expand(1, 1, 32, 32).contiguous()
    pts = torch.stack(torch.meshgrid(torch.linspace(10, 22, 8), torch.linspace(10, 22, 9), indexing="ij"), -1)
    pts = pts.reshape(1, -1, 2)[:, :68].flip(-1)
    moved = warp_image(ramp, pts, pts + torch.tensor([2.0, 0.0]), grid_size=None)
    centre = moved[0, 0, 14:18, 14:18]
    torch.testing.assert_close(centre, ramp[0, 0, 14:18, 14:18] - 2.0, atol=0.05, rtol=0)


@pytest.mark.parametrize("map_size", [0, 16])
def test_warp_attention_generator_shapes_and_neutral_copy(map_size: int) -> None:
    cfg = tiny(variant="attention", bottleneck_size=4, attention_size=8, warp_identity=True, map_size=map_size)
    gen = AttentionGenerator(cfg).eval()
    b = _batch(3, 1, 32)
    ref_points = b["points"][:1, None]
    with pytest.raises(ValueError, match="warp_identity"):
        gen(b["landmark_image"], b["reference_images"][:1], b["reference_landmark_images"][:1])
    out = gen(b["landmark_image"], b["reference_images"][:1], b["reference_landmark_images"][:1],
              points=b["points"], reference_points=ref_points)
    assert out.image.shape == (3, 3, 32, 32) and out.attention is not None
    assert out.attention.shape == (3, 1, 32, 32)


def _fit_tiny_warp(run: Path, steps: int) -> tuple[FrameStore, Path]:
    """A 32² warp generator trained ``steps`` batches on synthetic clips: (its sample store, last.ckpt)."""
    store = synthetic_store(2, 1, 6, 32, temporal=False)
    cfg = tiny(variant="attention", bottleneck_size=4, attention_size=8, warp_identity=True, map_size=16,
               adversarial=False)
    dm = TextureDataModule(TextureDataConfig(samples_per_epoch=8), 32, train_store=store)
    return store, fit(TextureGAN(cfg), dm, run, TrainConfig(max_steps=steps, batch_size=2, progress_bar=False))


def test_warp_texture_gan_trains_from_samples(tmp_path: Path) -> None:
    store, last = _fit_tiny_warp(tmp_path / "run", 2)
    loaded = load_module(last)
    assert isinstance(loaded, TextureGAN) and loaded.config.warp_identity and loaded.config.map_size == 16
    frames, points = store.clips[0].frames, store.clips[0].points
    person = person_from_model(loaded, frames[:1], points[:1])
    assert person.generate(points).shape == frames.shape


def test_part_mask_and_parts_region_keep_identity_elsewhere() -> None:
    from talkface.texture.attention import part_mask

    pts = torch.rand(2, 68, 2, generator=torch.Generator().manual_seed(1)) * 12 + 10
    mask = part_mask(pts, 32)
    assert mask.shape == (2, 1, 32, 32) and float(mask.max()) <= 1.0 and float(mask.amax()) > 0.9
    assert float(mask[:, :, 0, 0].max()) < 0.05  # a corner far from mouth and eyes
    cfg = tiny(variant="attention", bottleneck_size=4, attention_size=8, warp_identity=True, map_region="parts")
    gen = AttentionGenerator(cfg).eval()
    b = _batch(2, 1, 32)
    out = gen(b["landmark_image"], b["reference_images"][:1], b["reference_landmark_images"][:1],
              points=b["points"], reference_points=b["points"][:1, None])
    assert out.attention is not None
    far = part_mask(b["points"], 32) < 1e-3
    assert torch.all(out.attention[far] > 1 - 1e-3)
    with pytest.raises(ValueError, match="map_region"):
        tiny(variant="attention", map_region="mouth")


def test_fine_tune_init_copies_generator_and_rejects_other_architectures(tmp_path: Path) -> None:
    from talkface.errors import InputError
    from talkface.texture.tgan import init_config, load_generator_weights

    _, last = _fit_tiny_warp(tmp_path / "run", 1)
    tuned_cfg = init_config(last, adversarial=True)  # same generator, now with a discriminator
    assert tuned_cfg.adversarial and tuned_cfg.map_size == 16 and tuned_cfg.warp_identity
    tuned = TextureGAN(tuned_cfg)
    load_generator_weights(tuned, last)
    source = load_module(last)
    assert isinstance(source, TextureGAN)
    for (name, a), b in zip(tuned.generator.state_dict().items(), source.generator.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    other = TextureGAN(tiny(variant="attention", bottleneck_size=4, attention_size=8, warp_identity=True, map_size=0,
                            base_channels=16, adversarial=False))
    with pytest.raises(InputError, match="architecture"):
        load_generator_weights(other, last)
