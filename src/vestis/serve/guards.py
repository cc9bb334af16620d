"""What stands between a request and the library: body limits, photo checks, the bearer token.

* Bodies: FastAPI's own limits (``max_body_size`` per route, ``form_limits``) refuse a body over
  its limit with 413, declared or streamed; JSON bodies get a small limit, uploads a larger one.
* Photos: read up to ``max_upload_bytes``, their type sniffed from the first bytes (the client's
  ``Content-Type`` and file name are never trusted), decoded by :func:`vestis.images.load_image`
  with the pixel limit checked before decoding (decompression bombs).
* Tokens: compared in constant time.
"""

from __future__ import annotations

import hmac

from PIL import Image

from vestis.errors import UserError
from vestis.images import ImageLoadError, load_image

DECODE_MAX_SIDE = 1024  # decoded photos are shrunk to this (the models see far less; memory stays bounded)
MULTIPART_OVERHEAD = 64 * 1024  # form fields and part headers beside the photos
FORM_FIELD_BYTES = 16 * 1024  # a text field of a form (a filter, a modification)

# first bytes → format, for the formats vestis.images decodes
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "png"),
    (b"GIF87a", 0, "gif"),
    (b"GIF89a", 0, "gif"),
    (b"BM", 0, "bmp"),
    (b"II*\x00", 0, "tiff"),
    (b"MM\x00*", 0, "tiff"),
)
SNIFFED_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "webp": "image/webp",
}


class RequestError(UserError):
    """A request the service refuses, with the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def sniff(data: bytes) -> str | None:
    """The image format the bytes start with (``jpeg``, ``png``, ...), or None.

    >>> sniff(b"\\x89PNG\\r\\n\\x1a\\n...."), sniff(b"<svg>")
    ('png', None)
    """
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    for signature, offset, name in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            return name
    return None


def check_photo(data: bytes, name: str, max_bytes: int) -> str:
    """The sniffed format of an uploaded photo, or a :class:`RequestError` (400 empty, 413 too large,
    415 not an image by its bytes) naming the part."""
    if not data:
        raise RequestError(400, f"{name}: empty file")
    if len(data) > max_bytes:
        raise RequestError(413, f"{name}: over the limit of {max_bytes} bytes")
    fmt = sniff(data)
    if fmt is None:
        raise RequestError(
            415, f"{name}: not a JPEG, PNG, WebP, GIF, BMP or TIFF image (judged by its bytes)"
        )
    return fmt


def decode_photo(data: bytes, name: str, max_pixels: int, max_bytes: int) -> Image.Image:
    """A checked photo decoded as RGB (the pixel count checked before decoding), or a
    :class:`RequestError`: 413 too many pixels, 400 a broken image."""
    try:
        return load_image(data, max_pixels=max_pixels, max_bytes=max_bytes, max_side=DECODE_MAX_SIDE)
    except ImageLoadError as exc:
        status = 413 if exc.reason == "too_large" else 400
        detail = f": {exc.detail}" if exc.detail else ""
        raise RequestError(status, f"{name}: {exc.reason.replace('_', ' ')}{detail}") from None


def token_matches(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


__all__ = ["RequestError", "bearer", "check_photo", "decode_photo", "sniff", "token_matches"]
