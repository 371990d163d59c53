"""Live head motion follows the speaking style: a running speaking rate (talkface.live.online_motion)."""

from __future__ import annotations

import numpy as np

from talkface.live.online_motion import OnlineHeadMotion, OnlineSpeakingRate
from talkface.motion.head import HeadMotionConfig, _loudness_db, speaking_rate

FPS = 25.0
SR = 16000


def _syllables(seconds: float, rate: float, seed: int = 0) -> np.ndarray:
    """Noise speech with ``rate`` loudness bursts (syllables) per second (as tests/test_head_motion.py)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    syll = 0.05 + np.sin(np.pi * rate * t) ** 2
    loud = np.repeat(rng.uniform(0.3, 1.0, int(seconds * rate) + 2), int(SR / rate))[:n]
    return (0.2 * rng.standard_normal(n) * syll * loud).astype(np.float32)


def _rates(audio: np.ndarray, chunk: int) -> list[float]:
    """The estimate for every frame, the audio pushed in ``chunk``-sample pieces as a stream does."""
    est = OnlineSpeakingRate(FPS, SR)
    out: list[float] = []
    total = len(audio) // 640
    for i in range(0, len(audio), chunk):
        est.push(audio[i:i + chunk])
        ready = min(total, (i + chunk - 1920) // 640)  # frames whose look-ahead has arrived
        while len(out) < ready:
            out.append(est.at_frame(len(out)))
    return out


def test_running_rate_reads_the_offline_loudness_ignores_chunking_and_freezes() -> None:
    audio = _syllables(20.0, 6.0, seed=1)
    est = OnlineSpeakingRate(FPS, SR)
    est.push(audio[:3 * SR])
    assert np.array_equal(np.asarray(est._db), _loudness_db(audio[:3 * SR], SR)[: len(est._db)])
    a, b = _rates(audio, 160), _rates(audio, 4321)
    n = min(len(a), len(b))
    assert n > 480 and a[:n] == b[:n]  # the estimate of frame t depends on t only
    assert a[0] == OnlineSpeakingRate(FPS).prior_rate  # nothing heard yet: the prior
    # after 8 s of speech: frozen at the rate offline reads from the same audio
    frozen = a[-1]
    assert frozen == a[12 * 25] and abs(frozen - speaking_rate(audio[: 9 * SR])) < 0.35 and frozen > 5.0
    est = OnlineSpeakingRate(FPS, SR)
    est.push(audio)
    sizes = [est.state_size]
    est.at_frame(len(audio) // 640 - 10)
    assert est.frozen and est.state_size < 20 < sizes[0]  # the loudness track is dropped once frozen
    assert OnlineSpeakingRate(FPS, SR, max_seconds=20.0).max_frames == 2000


def test_online_head_motion_is_calm_for_read_out_speech_and_lively_for_slow_speech() -> None:
    """As offline (HeadMotionConfig.axis_std of the recording's rate), once the running rate has settled."""
    cfg = HeadMotionConfig()
    assert cfg.calm_std is not None
    want = np.asarray(cfg.calm_std) / np.asarray(cfg.std)
    stds = {}
    for rate in (3.0, 6.0):
        audio = _syllables(40.0, rate, seed=2)
        runs = []
        for seed in range(3):
            head = OnlineHeadMotion(FPS, seed=seed)
            head.push_audio(np.concatenate([audio, np.zeros(4000, np.float32)]))
            runs.append(head.step(len(audio) // 640).pose[20 * 25:].std(0))  # after the estimate settled
        stds[rate] = np.mean(runs, axis=0)
    ratio = stds[6.0] / stds[3.0]
    assert ((ratio > 0.6 * want) & (ratio < 1.6 * want)).all(), (ratio, want)
    # no coupling configured: lively throughout, as the stream was before
    flat = HeadMotionConfig(calm_std=None)
    head = OnlineHeadMotion(FPS, seed=0, config=flat)
    assert head.rate is None
    head.push_audio(_syllables(30.0, 6.0, seed=2))
    assert head.step(25 * 29).pose[20 * 25:, 0].std() > 0.5 * flat.std[0]
