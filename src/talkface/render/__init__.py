"""Native-resolution rendering: the photo warped by the landmarks, plus painted mouth interior and eyelids.

:mod:`talkface.render.warp` (dense landmark-driven warp), :mod:`talkface.render.mouth` (mouth
interior; its colours and light from :mod:`talkface.render.mouth_light`), :mod:`talkface.render.compose`
(the per-frame renderer the :class:`talkface.pipeline.Animator` uses by default). See ``docs/render.md``.
"""

__all__ = ["MOUTH_STYLES", "RESAMPLE_KERNELS"]

#: how the inside of an opening mouth is made: ``"painted"`` (dark cavity + teeth from the photo's
#: colours), ``"cavity"`` (dark cavity, no teeth), ``"warp"`` (warp only: stretched lip pixels),
#: ``"generator"`` (the crop texture generator's mouth, mapped back inside the inner lips),
#: ``"retrieved"`` (real GRID s1 mouth interiors from a bank, :mod:`talkface.render.mouth_bank`).
MOUTH_STYLES = ("painted", "cavity", "warp", "generator", "retrieved")

#: how the native renderer samples the photo (``RenderConfig.resample``, ``AnimateConfig.resample``):
#: ``"cubic2x"`` (bicubic on a once-upsampled copy, the default), ``"lanczos"``, ``"cubic"``.
RESAMPLE_KERNELS = ("cubic2x", "lanczos", "cubic")
