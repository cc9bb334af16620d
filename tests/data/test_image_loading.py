"""Robust image loading (vestis.images): odd modes are converted, broken files get a reason."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vestis.images import ImageLoadError, load_image


def _jpeg_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kw)
    return buf.getvalue()


def test_exif_rotated_jpeg_is_upright(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    path = tmp_path / "rotated.jpg"
    path.write_bytes(_jpeg_bytes(Image.new("RGB", (40, 20), "blue"), exif=exif))
    img = load_image(path)
    assert img.size == (20, 40) and img.mode == "RGB"


def test_cmyk_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    path.write_bytes(_jpeg_bytes(Image.new("CMYK", (10, 10), (0, 255, 255, 0))))
    img = load_image(path)
    assert img.mode == "RGB" and img.getpixel((5, 5))[0] > 200


def test_palette_png_with_transparency_goes_over_white(tmp_path: Path) -> None:
    img = Image.new("P", (10, 10), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.putpixel((0, 0), 1)
    path = tmp_path / "palette.png"
    img.save(path, transparency=0)
    out = load_image(path)
    assert out.mode == "RGB"
    assert out.getpixel((5, 5)) == (255, 255, 255) and out.getpixel((0, 0)) == (255, 0, 0)


def test_rgba_composited_on_white(tmp_path: Path) -> None:
    img = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    img.putpixel((1, 1), (0, 0, 255, 255))
    path = tmp_path / "rgba.png"
    img.save(path)
    out = load_image(path)
    assert out.getpixel((0, 0)) == (255, 255, 255) and out.getpixel((1, 1)) == (0, 0, 255)


def test_16_bit_greyscale(tmp_path: Path) -> None:
    path = tmp_path / "grey16.png"
    Image.fromarray(np.full((6, 6), 40000, dtype=np.uint16)).save(path)
    assert Image.open(path).mode.startswith("I")
    out = load_image(path)
    assert out.mode == "RGB" and out.getpixel((0, 0)) == (156, 156, 156)


def test_truncated_jpeg(tmp_path: Path) -> None:
    data = _jpeg_bytes(Image.effect_noise((64, 64), 50).convert("RGB"))
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    assert info.value.reason == "truncated"


def test_text_file_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "fake.jpg"
    path.write_text("this is not an image")
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    assert info.value.reason == "not_image"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    assert info.value.reason == "not_image"


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    Image.new("L", (1000, 1000)).save(path)  # tiny file, a million pixels
    with pytest.raises(ImageLoadError) as info:
        load_image(path, max_pixels=10_000)
    assert info.value.reason == "too_large"
    assert load_image(path).size == (1000, 1000)


def test_an_image_past_pillows_own_bomb_limit_is_refused_too(tmp_path: Path) -> None:
    """Over Pillow's MAX_IMAGE_PIXELS (but under 2x, so Pillow only warns) while the caller allows it."""
    path = tmp_path / "bomb.png"
    Image.new("1", (12_000, 12_000)).save(path)  # 144 M pixels in a few kilobytes
    with pytest.raises(ImageLoadError) as info:
        load_image(path, max_pixels=10**9)
    assert info.value.reason == "too_large" and "pixels" in info.value.detail


def test_missing_file_and_bytes_source(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError) as info:
        load_image(tmp_path / "nope.jpg")
    assert info.value.reason == "not_found"
    assert load_image(_jpeg_bytes(Image.new("RGB", (3, 5)))).size == (3, 5)


def test_draft_decodes_jpeg_smaller(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    path.write_bytes(_jpeg_bytes(Image.new("RGB", (800, 800), "green")))
    assert max(load_image(path, draft_size=100).size) < 800
