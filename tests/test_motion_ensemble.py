"""Motion-model ensembles (late fusion of G_L on feature slices): maths, file round trip, loaders, CLI."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from talkface.errors import InputError
from talkface.io.atomic import save_torch
from talkface.io.checkpoint import MODULE_CLASS_KEY
from talkface.models import load_lgan_net
from talkface.motion.ensemble import LGANEnsemble, is_ensemble_file, load_ensemble, main, make_ensemble
from talkface.motion.lgan_net import LGANNet
from talkface.pipeline import DEFAULT_MODEL

SHIPPED = DEFAULT_MODEL / "lgan.pt"  # the shipped motion model: an ensemble of a Whisper tiny.en and a hama G_L


def _tiny() -> LGANNet:
    """The shipped Whisper tiny.en G_L."""
    net = load_lgan_net(SHIPPED).nets()[0]
    assert isinstance(net, LGANNet) and net.config.feature_name == "whisper-tiny.en"
    return net


def _member_file(path: Path) -> Path:
    """The shipped tiny.en G_L as a stand-alone l-GAN export (what training + `export_module` write)."""
    net = _tiny()
    save_torch({MODULE_CLASS_KEY: "talkface.motion.lgan:LGAN", "state_dict": net.state_dict(),
                "hyper_parameters": {"config": dataclasses.asdict(net.config)}}, path)
    return path


def _perturbed(seed: int) -> LGANNet:
    """The shipped tiny.en G_L with its last layer perturbed: a second, different member of the same kind."""
    net = _tiny()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        net.generator.decoder.weight.add_(0.05 * torch.randn(net.generator.decoder.weight.shape, generator=g))
    return net


def test_ensemble_is_the_weighted_mean_of_its_members_on_their_slices() -> None:
    a, b = _tiny(), _perturbed(1)
    d = a.config.feature_dim
    ens = LGANEnsemble([a, b], [(0, d), (d, 2 * d)], [1.0, 3.0], "whisper-tiny.en+whisper-tiny.en").eval()
    assert ens.config.feature_dim == 2 * d and ens.config.feature_name == "whisper-tiny.en+whisper-tiny.en"
    feats = np.random.default_rng(0).standard_normal((40, 2 * d)).astype(np.float32)
    pa, pb = a.predict_canonical(feats[:, :d]), b.predict_canonical(feats[:, d:])
    pe = ens.predict_canonical(feats)
    assert pe.shape == (40, 68, 2)
    np.testing.assert_allclose(pe, 0.25 * pa + 0.75 * pb, atol=1e-5)
    assert np.abs(pa - pb).max() > 1e-3  # the members differ, so the weights matter


def test_in_pauses_the_first_member_speaks_alone() -> None:
    a, b = _tiny(), _perturbed(2)
    d = a.config.feature_dim
    ens = LGANEnsemble([a, b], [(0, d), (d, 2 * d)], [1.0, 1.0], "whisper-tiny.en+whisper-tiny.en").eval()
    feats = np.random.default_rng(1).standard_normal((30, 2 * d)).astype(np.float32)
    pa = a.predict_canonical(feats[:, :d])
    np.testing.assert_allclose(ens.predict_canonical_paused(feats, np.ones(30)), ens.predict_canonical(feats),
                               atol=1e-5)
    np.testing.assert_allclose(ens.predict_canonical_paused(feats, np.zeros(30)), pa, atol=1e-5)
    half = ens.predict_canonical_paused(feats, np.full(30, 0.5))  # weights 0.75 / 0.25
    np.testing.assert_allclose(half, 0.75 * pa + 0.25 * b.predict_canonical(feats[:, d:]), atol=1e-5)
    with pytest.raises(ValueError, match="speech"):
        ens.predict_canonical_paused(feats, np.ones(29))


def test_speech_presence_finds_pauses_with_soft_edges() -> None:
    from talkface.motion.amplitude import speech_presence

    rms = np.full(40, 0.1)
    rms[:8] = rms[30:] = 1e-4  # 60 dB down: pauses at both ends
    s = speech_presence(rms)
    assert s.shape == (40,) and s.dtype == np.float32
    assert (s[:4] == 0).all() and (s[36:] == 0).all()  # pauses (beyond the 2-frame hold and the ramp)
    assert (s[8:30] == 1).all()  # speech
    assert 0 < s[5] < 1 and 0 < s[32] < 1  # soft edges
    assert (speech_presence(np.full(20, 0.1)) == 1).all()  # no pause: the ensemble as trained
    assert (speech_presence(np.full(20, 1e-5)) == 0).all()  # a silent recording: all pause


def test_ensemble_refuses_members_that_do_not_fit() -> None:
    a = _tiny()
    d = a.config.feature_dim
    with pytest.raises(ValueError, match="slice"):
        LGANEnsemble([a, a], [(0, d), (d, 2 * d - 1)], [0.5, 0.5], "x")
    with pytest.raises(ValueError, match="weights"):
        LGANEnsemble([a, a], [(0, d), (d, 2 * d)], [-1.0, 0.5], "x")
    with pytest.raises(ValueError, match="one slice and one weight"):
        LGANEnsemble([a, a], [(0, d)], [0.5, 0.5], "x")


def test_ensemble_file_round_trip_and_loaders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    member = _member_file(tmp_path / "tiny.pt")
    out = tmp_path / "ens.pt"
    assert main([str(member), str(member), "--weight", "0.25", "-o", str(out)]) == 0
    assert "whisper-tiny.en+whisper-tiny.en (768-d)" in capsys.readouterr().out
    assert is_ensemble_file(out) and not is_ensemble_file(member)
    ens = load_lgan_net(out)  # what --lgan, bundles and evaluate-motion use
    assert isinstance(ens, LGANEnsemble)
    assert torch.allclose(ens.weights, torch.tensor([0.75, 0.25]))
    assert ens.describe()["members"][1] == {"feature_name": "whisper-tiny.en", "slice": [384, 768], "weight": 0.25}
    # the same member twice on the same feature: the ensemble is that member (up to fp16 storage)
    single = load_lgan_net(member)
    feats = np.random.default_rng(1).standard_normal((30, 384)).astype(np.float32)
    np.testing.assert_allclose(ens.predict_canonical(np.concatenate([feats, feats], 1)),
                               single.predict_canonical(feats), atol=2e-3)
    made = make_ensemble([member, member], [1, 1])
    assert made.slices == [(0, 384), (384, 768)]
    assert isinstance(load_lgan_net(out, trainable=True), LGANEnsemble)  # load_bundle(trainable=True): adapt


def test_bad_ensemble_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(InputError, match="junk.pt"):
        load_lgan_net(junk)
    with pytest.raises(InputError, match="not a talkface motion ensemble"):
        load_ensemble(junk)
    with pytest.raises(InputError, match="not found"):
        load_ensemble(tmp_path / "missing.pt")
    out = tmp_path / "ens.pt"
    assert main([str(junk), str(_member_file(tmp_path / "tiny.pt")), "-o", str(out)]) == 2
    assert "junk.pt" in capsys.readouterr().out and not out.exists()


def test_shipped_motion_model_is_the_tiny_en_hama_ensemble() -> None:
    ens = load_lgan_net(SHIPPED)
    assert isinstance(ens, LGANEnsemble)
    assert ens.config.feature_name == "whisper-tiny.en+hama" and ens.config.feature_dim == 575
    assert [m["feature_name"] for m in ens.describe()["members"]] == ["whisper-tiny.en", "hama"]
    assert torch.allclose(ens.weights, torch.tensor([0.5, 0.5]))
