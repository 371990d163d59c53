"""Telling still-image files in the ISO media container (AVIF, HEIC/HEIF) from MP4/M4A by their ``ftyp`` box.

Phones save photos as HEIC (iPhone) or AVIF in the same container as MP4 video: both the photo reader
(:func:`talkface.io.images.read_image`, to name a HEIC it cannot read) and the server's upload sniffing
(:func:`talkface.serve.validate.sniff`) ask this one function. Bytes only: no numpy, no Pillow.
"""

from __future__ import annotations

__all__ = ["HEIF_BRANDS", "iso_still_image"]

#: Major brands of HEIF still images and sequences (HEVC-coded: iPhone photos), after the AVIF ones are told apart.
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")


def iso_still_image(head: bytes) -> str | None:
    """``"avif"`` or ``"heic"`` for the start of an ISO media file holding a still image, else None.

    Args:
        head: the file's first bytes (the ``ftyp`` box: 64 bytes cover the major brand and the first
            compatible brands).

    Returns:
        ``"avif"`` (major brand avif/avis, or a generic mif1/msf1 with avif among the compatible brands),
        ``"heic"`` (a HEIF brand, :data:`HEIF_BRANDS`), or None (not ISO media, or MP4/M4A/MOV).
    """
    if head[4:8] != b"ftyp":
        return None
    major, compatible = head[8:12], head[16:64]
    if major in (b"avif", b"avis") or (major in (b"mif1", b"msf1") and b"avif" in compatible):
        return "avif"
    if major in HEIF_BRANDS:
        return "heic"
    return None
