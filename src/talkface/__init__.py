"""talkface: one still face + speech -> talking-head video.

Pipeline stages live in sub-packages named after them and data flows one way:
``io`` (media in/out) -> ``audio`` (speech features) -> ``face`` (detection, landmarks,
alignment) -> ``data`` (prepared datasets) -> ``motion`` -> ``texture`` -> ``io`` (video out).
"""

__version__ = "0.1.0"
