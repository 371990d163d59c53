"""The settings of a ``talkface live`` session other than the animation's: how the speech is fed.

The animation itself (motion, blinks, head motion, renderer, model) is set by
:class:`talkface.animate_config.AnimateConfig`, as for ``talkface animate``. Torch-free, so that
``talkface live --help`` reads the defaults without loading a model.
"""

from __future__ import annotations

from dataclasses import dataclass

from talkface.config_checks import MAX_LIVE_S, check_fields

__all__ = ["LIVE_CHECKED_FIELDS", "LiveConfig"]

#: Numeric fields of :class:`LiveConfig` checked against :data:`talkface.config_checks.LIMITS`.
LIVE_CHECKED_FIELDS = ("chunk_ms", "max_duration_s")


@dataclass
class LiveConfig:
    """How ``talkface live`` feeds the speech to the stream.

    Attributes:
        realtime: play a speech file at real speed, as a microphone or a TTS engine would deliver it
            (False: as fast as frames can be made); raw PCM on stdin arrives at its own pace.
        chunk_ms: audio fed to the stream at a time, ms.
        max_duration_s: longest speech file accepted, seconds (longer than a file to animate,
            :data:`talkface.config_checks.MAX_LIVE_S`; the server's ``/v1/live`` has the same limit).
    """

    realtime: bool = True
    chunk_ms: float = 40.0
    max_duration_s: float = MAX_LIVE_S

    def __post_init__(self) -> None:
        check_fields(self, LIVE_CHECKED_FIELDS)
