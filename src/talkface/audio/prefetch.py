"""Speech features computed in a background thread while the caller does something else.

``talkface animate`` needs two slow things before its first frame: the photo's face (dlib, which
holds the GIL) and the speech features (the Whisper encoder: CTranslate2, which releases it).
:class:`PrefetchingExtractor` lets the second run beside the first on another core: ``start(audio,
...)`` as soon as the speech is read, and the later call with the same arguments returns that
result (waiting for it if needed). Any other call computes as usual.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import Future
from typing import Any

import numpy as np

from talkface.audio.background import start_thread
from talkface.audio.features import FeatureExtractor

__all__ = ["PrefetchingExtractor"]


class PrefetchingExtractor:
    """A :class:`~talkface.audio.features.FeatureExtractor` that can compute one input ahead of time.

    Not for concurrent use by several callers (like the :class:`talkface.pipeline.Animator` that
    owns it).

    Args:
        extractor: the extractor doing the work.
    """

    def __init__(self, extractor: FeatureExtractor) -> None:
        self.extractor = extractor
        self._job: tuple[np.ndarray, int, float, Future[np.ndarray]] | None = None

    @property
    def name(self) -> str:
        """The wrapped extractor's name."""
        return self.extractor.name

    @property
    def dim(self) -> int:
        """The wrapped extractor's feature size."""
        return self.extractor.dim

    def preload(self) -> None:
        """Start loading the extractor's model in the background, if it has such a step."""
        preload = getattr(self.extractor, "preload", None)
        if callable(preload):
            preload()

    def start(self, audio: np.ndarray, num_frames: int, fps: float) -> None:
        """Begin computing ``extractor(audio, num_frames, fps)`` in a background thread."""
        self._drop()
        future: Future[np.ndarray] = Future()

        def work() -> None:
            try:
                future.set_result(self.extractor(audio, num_frames, fps))
            except BaseException as exc:  # noqa: BLE001 - re-raised by __call__ in the caller's thread
                future.set_exception(exc)

        self._job = (audio, int(num_frames), float(fps), future)
        start_thread(work, "talkface-speech-features")  # joined at exit (a crash if left in native code)

    def __call__(self, audio: np.ndarray, num_frames: int, fps: float) -> Any:
        """The started result when the arguments are the started ones, else computed now."""
        job, self._job = self._job, None
        if job is not None:
            same = job[1] == num_frames and job[2] == fps and (job[0] is audio or np.array_equal(job[0], audio))
            if same:
                return job[3].result()
            self._wait(job[3])
        return self.extractor(audio, num_frames, fps)

    def _drop(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            self._wait(job[3])

    @staticmethod
    def _wait(future: Future[np.ndarray]) -> None:
        """Let an unused job finish (so two never run at once); its error is not the caller's."""
        with contextlib.suppress(Exception):  # the result was not wanted
            future.result()
