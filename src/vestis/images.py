"""Safe image loading: every failure is a typed, per-item error, never a crash of the run.

EXIF orientation is applied; CMYK, palette, greyscale and alpha images become RGB
(alpha composited on white, as product shots are); images over ``max_pixels`` are
refused before decoding (decompression bombs); truncated and non-image files are
reported with a reason. ``max_side`` bounds the decoded size (JPEGs decode at reduced
scale, other formats are reduced right after decoding), so a batch of huge photos costs
no more memory than a batch of ordinary ones.

>>> from vestis.images import load_image, ImageLoadError
>>> try:
...     load_image("/nonexistent.jpg")
... except ImageLoadError as e:
...     e.reason
'not_found'
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from vestis.errors import UserError

DEFAULT_MAX_PIXELS = 64_000_000  # 8000 x 8000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})

ImageSource = str | os.PathLike | bytes | Image.Image

REASONS = ("not_found", "not_image", "truncated", "too_large", "corrupt", "unreadable", "not_a_file")
"""Why an image could not be used. ``unreadable``: the file exists but reading it failed (permissions,
an I/O error); ``not_a_file``: the path is a directory, FIFO, socket, device or a symlink loop."""


class ImageLoadError(UserError):
    """An image could not be used. ``reason`` is one of :data:`REASONS`."""

    def __init__(self, source: str, reason: str, detail: str = "") -> None:
        self.source = source
        self.reason = reason
        self.detail = detail
        super().__init__(f"{source}: {reason}{': ' + detail if detail else ''}")


def load_image(
    source: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    draft_size: int | None = None,
    max_side: int | None = None,
) -> Image.Image:
    """Open an image as RGB. ``draft_size`` lets JPEG decode at reduced scale (much faster).

    ``max_side`` caps the longest side of the result: JPEGs decode at the largest reduced scale
    still at least that big, other images are shrunk right after decoding. Images within it are
    returned exactly as without it.
    """
    name = (
        "<bytes>"
        if isinstance(source, bytes)
        else ("<image>" if isinstance(source, Image.Image) else str(source))
    )
    if isinstance(source, Image.Image):
        return to_rgb(source)
    if not isinstance(source, bytes):
        path = Path(source)
        if not path.is_file():
            raise ImageLoadError(name, "not_found")
        size = path.stat().st_size
        if size > max_bytes:
            raise ImageLoadError(name, "too_large", f"{size} bytes > {max_bytes}")
        if size == 0:
            raise ImageLoadError(name, "not_image", "empty file")
        try:
            fp: io.BufferedIOBase | io.BytesIO = open(path, "rb")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise ImageLoadError(name, "unreadable", exc.strerror or str(exc)) from None
    else:
        if len(source) > max_bytes:
            raise ImageLoadError(name, "too_large", f"{len(source)} bytes > {max_bytes}")
        fp = io.BytesIO(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                img = Image.open(fp)
            except UnidentifiedImageError:
                raise ImageLoadError(name, "not_image", "unrecognised format") from None
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise ImageLoadError(name, "too_large", str(exc)) from None
            except (OSError, SyntaxError, ValueError) as exc:  # header cut short or garbled
                reason = "truncated" if "truncated" in str(exc).lower() else "corrupt"
                raise ImageLoadError(name, reason, str(exc)) from None
            if img.width * img.height > max_pixels:
                raise ImageLoadError(name, "too_large", f"{img.width}x{img.height} > {max_pixels} pixels")
            if draft_size and img.format == "JPEG":
                img.draft("RGB", (draft_size, draft_size))
            elif max_side and img.format == "JPEG" and max(img.size) > max_side:
                img.draft("RGB", _draft_request(img.size, max_side))
            try:
                img.load()
            except OSError as exc:
                reason = "truncated" if "truncated" in str(exc).lower() else "corrupt"
                raise ImageLoadError(name, reason, str(exc)) from None
            except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
                raise ImageLoadError(name, "too_large", str(exc)) from None
            except (SyntaxError, ValueError) as exc:
                raise ImageLoadError(name, "corrupt", str(exc)) from None
        if max_side:
            img = shrink(img, max_side)
        return to_rgb(img)
    finally:
        fp.close()


def oriented_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` of an encoded image as :func:`load_image` turns it (EXIF orientation
    applied), from its header: the size a photo decoded smaller (``max_side``) had."""
    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
        with contextlib.suppress(Exception):  # broken EXIF: load_image keeps the stored orientation too
            if img.getexif().get(0x0112) in (5, 6, 7, 8):  # rotated by a quarter turn
                return height, width
    return width, height


def _draft_request(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """The size to ask JPEG draft mode for: the longest side stays at least ``max_side``."""
    w, h = size
    scale = max_side / max(w, h)
    return max(1, math.ceil(w * scale)), max(1, math.ceil(h * scale))


def shrink(img: Image.Image, max_side: int) -> Image.Image:
    """``img`` with its longest side at most ``max_side`` (aspect kept; unchanged when already within).

    Shrinks in place where the mode allows (the full-size pixels are freed at once); the EXIF
    orientation stays for :func:`to_rgb` to apply.
    """
    if max(img.size) <= max_side:
        return img
    if img.mode not in ("RGB", "RGBA", "L", "LA", "CMYK"):
        img = to_rgb(img)  # palette and 16-bit images do not resample well as they are
    img.thumbnail((max_side, max_side), Image.BILINEAR, reducing_gap=2.0)
    return img


def path_text(path: str | os.PathLike) -> str:
    r"""A path as valid UTF-8 text, for the database, JSON and the terminal.

    A name that is not valid UTF-8 (``os.fsdecode`` keeps its bytes as lone surrogates) has
    each undecodable byte written as ``\xNN`` (Python's ``backslashreplace``). The text is
    stable, so it keys the file; ``os.fsencode`` of the original path gives the exact bytes.

    >>> path_text("plain/é.jpg")
    'plain/é.jpg'
    >>> print(path_text(os.fsdecode(b"caf\xe9.jpg")))
    caf\xe9.jpg
    """
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def to_rgb(img: Image.Image) -> Image.Image:
    """Apply EXIF orientation and convert any mode to RGB (alpha over white)."""
    with contextlib.suppress(Exception):  # broken EXIF must not lose the image
        img = ImageOps.exif_transpose(img)
    if img.mode == "RGB":
        return img
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if img.mode == "I;16" or img.mode == "I":
        img = img.point(lambda v: v / 256).convert("L")
    return img.convert("RGB")


def is_image_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES
