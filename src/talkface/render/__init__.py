"""Native-resolution rendering: the photo warped by the landmarks, plus painted mouth interior and eyelids.

:mod:`talkface.render.warp` (dense landmark-driven warp), :mod:`talkface.render.mouth` (mouth
interior), :mod:`talkface.render.compose` (the per-frame renderer the :class:`talkface.pipeline.Animator`
uses by default). See ``docs/render.md``.
"""
