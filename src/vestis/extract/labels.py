"""Label text: OCR (rapidocr, offline) of care and brand labels, and rules that read brand and size.

:class:`LabelReader` turns a photo into text lines (with confidence and box height). Two
readers work on those lines:

* :func:`read_size` knows the size systems on garment labels: letters (XS … 3XL, with or
  without a "size"/"talla"/"taille" keyword), regional numbers (EU/FR/IT/DE/ES/UK/US/JP/CN),
  jeans waist/length (W32 L34, 32/34) and one-size. Sizes are written normalised: ``M``,
  ``EU 38``, ``W32 L34``, ``one size``.
* :func:`read_brand` matches lines against a lexicon of brands (``extract/data/brands.txt``,
  fuzzy, so OCR slips such as ``LEVIS`` or ``ZAR A`` still match) with high confidence; a label
  whose brand is not in the lexicon gives its most prominent brand-like line (largest letters,
  not a size, material, care or origin line) with lower confidence.

OCR text also goes into the prompt of generative backends (:func:`label_prompt`). Measured on
label photos rendered by ``benchmarks/labels.py`` (real label photos are still to be measured).

>>> read_size(["100%COTTON", "EU42", "W32L34"])
('W32 L34', 0.95)
>>> read_size(["TALLA M", "MADE IN PORTUGAL"])
('M', 0.9)
>>> read_brand([Line("LEVIS", 0.95, 30), Line("W32 L34", 0.9, 18)])[0]
"Levi's"
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from vestis.errors import OptionsError, UserError

if TYPE_CHECKING:
    from vestis.schema import Schema

BRANDS_FILE = Path(__file__).parent / "data" / "brands.txt"
LETTER_SIZES = ("XXXS", "XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL", "XXXXL", "2XL", "3XL", "4XL", "5XL")
REGIONS = {"EU": "EU", "FR": "FR", "IT": "IT", "DE": "DE", "ES": "ES", "UK": "UK", "GB": "UK", "US": "US",
           "USA": "US", "JP": "JP", "CN": "CN", "MEX": "MEX", "BR": "BR"}  # fmt: skip
SIZE_WORDS = ("SIZE", "TALLA", "TAILLE", "GROSSE", "GRÖSSE", "GR", "TAGLIA", "TAMANHO", "MAAT", "STORLEK")
# Lines that are not the brand: composition, care, origin, size (OCR often drops the spaces).
NOT_BRAND = re.compile(
    r"%|\d{2,}|°|MADE\s*IN|FABRI|HECHO\s*EN|WASH|LAVA|LAVE|DRY|IRON|BLEACH|COTTON|POLYEST|VISCOS|"
    r"ELASTAN|WOOL|SILK|LINEN|NYLON|POLYAMID|ACRYLI|LEATHER|SIZE|TALLA|TAILLE|CARE|RN\s?\d",
    re.I,
)


class OCRMissing(UserError, ImportError):
    """rapidocr is not installed."""


@dataclass(frozen=True)
class Line:
    """One OCR line: its text, the recogniser's confidence and its box height in pixels (font size)."""

    text: str
    confidence: float
    height: float = 0.0


class LabelReader:
    """OCR of a photo into :class:`Line` s (rapidocr on ONNX Runtime, loaded on first use)."""

    def __init__(self, min_confidence: float = 0.5) -> None:
        self.min_confidence = min_confidence
        self._engine: Any = None

    def _ocr(self):
        if self._engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError:
                raise OCRMissing("reading labels needs rapidocr: pip install 'vestis[ocr]'") from None
            self._engine = RapidOCR()
        return self._engine

    def read(self, image: Image.Image) -> list[Line]:
        """Text lines of the photo, top to bottom; empty when there is no text."""
        result, _ = self._ocr()(np.asarray(image.convert("RGB"))[:, :, ::-1])  # rapidocr takes BGR
        lines = []
        for box, text, conf in sorted(result or [], key=lambda r: min(p[1] for p in r[0])):
            if float(conf) >= self.min_confidence and text.strip():
                ys = [p[1] for p in box]
                lines.append(Line(text.strip(), float(conf), float(max(ys) - min(ys))))
        return lines


def label_reader_for(schema: Schema, labels: str = "auto") -> LabelReader | None:
    """The OCR label reader when the schema has a brand or size field to fill, else None."""
    if labels not in ("auto", "on", "off"):
        raise OptionsError(f"labels must be auto, on or off, not {labels!r}")
    if labels == "off" or not (schema.by_role("brand") or schema.by_role("size")):
        return None
    import importlib.util

    if importlib.util.find_spec("rapidocr_onnxruntime") is None:
        if labels == "on":
            raise OCRMissing("labels='on' needs rapidocr: pip install 'vestis[ocr]'")
        logging.getLogger(__name__).info(
            "rapidocr is not installed: brand and size stay null (pip install 'vestis[ocr]')"
        )
        return None
    return LabelReader()


def read_size(lines: Sequence[str | Line]) -> tuple[str | None, float]:
    """The size printed on a label, normalised, and a confidence; (None, 0) when none is found."""
    texts = [(_text(x).upper(), _conf(x)) for x in lines]
    for text, conf in texts:  # jeans: W32 L34, W32/L34, and 30L32 when OCR drops the W
        m = re.search(r"\bW\s*(\d{2})\s*[/X×-]?\s*L\s*(\d{2})\b", text)
        m = m or re.search(r"(?<![\dA-Z])(2[4-9]|3\d|4[0-4])\s*L\s*(2[6-9]|3[0-8])\b", text)
        if m:
            return f"W{m[1]} L{m[2]}", round(0.95 * conf, 3)
    for text, conf in texts:  # regional numbers: EU 38, UK10, US 8.5
        m = re.search(r"\b(" + "|".join(REGIONS) + r")\s*[:.]?\s*(\d{1,2}(?:[.,]5)?)\b", text)
        if m:
            return f"{REGIONS[m[1]]} {m[2].replace(',', '.')}", round(0.9 * conf, 3)
    words = "|".join(SIZE_WORDS)
    letters = "|".join(sorted(LETTER_SIZES, key=len, reverse=True))
    for text, conf in texts:  # letters: alone on a line, after a size word, or as "M/38"
        clean = re.sub(r"[^A-Z0-9/ ]", " ", text).strip()
        m = (
            re.fullmatch(rf"({letters})", clean)
            or re.search(rf"\b(?:{words})\s*({letters})\b", clean)
            or re.search(rf"(?:{words})({letters})$", clean.replace(" ", ""))
            or re.fullmatch(rf"({letters})\s*/\s*\d{{2}}", clean)
        )
        if m:
            return m[1], round(0.9 * conf, 3)
    for text, conf in texts:  # jeans written 32/34
        m = re.fullmatch(r"\s*(2[4-9]|3\d|4[0-4])\s*/\s*(2[6-9]|3[0-8])\s*", text)
        if m:
            return f"W{m[1]} L{m[2]}", round(0.7 * conf, 3)
    for text, conf in texts:
        if re.search(r"\bONE\s*SIZE\b|\bTALLA\s*UNICA\b|\bTAILLE\s*UNIQUE\b|^OS$|^TU$", text):
            return "one size", round(0.85 * conf, 3)
    return None, 0.0


def read_brand(lines: Sequence[Line], brands: Sequence[str] | None = None) -> tuple[str | None, float]:
    """The brand on a label and a confidence: a lexicon match (high), else — when the photo shows a
    label (a size, composition, care or origin line) — its most prominent brand-like line (lower);
    (None, 0) when no line qualifies."""
    from rapidfuzz import fuzz, process

    lexicon = _lexicon(tuple(brands) if brands is not None else None)
    best: tuple[str, float] | None = None
    for ln in lines:  # every line: "SUPERDRY" and "FOREVER 21" look like care or size text
        key = _key(ln.text)
        if len(key) < 2:
            continue
        hit = process.extractOne(key, list(lexicon), scorer=fuzz.ratio, score_cutoff=85)
        if hit and (best is None or hit[1] / 100 * ln.confidence > best[1]):
            best = (lexicon[hit[0]], round(hit[1] / 100 * ln.confidence, 3))
    if best:
        return best
    candidates = [ln for ln in lines if _brand_like(ln.text)]
    # Outside the lexicon only a label is read: a print on a T-shirt is not a brand.
    label_like = any(NOT_BRAND.search(ln.text) for ln in lines) or read_size(lines)[0] is not None
    if not candidates or not label_like:
        return None, 0.0
    top = max(candidates, key=lambda ln: (ln.height, ln.confidence))
    return _title(top.text), round(0.6 * top.confidence, 3)


def label_prompt(lines: Sequence[Line]) -> str:
    """Text for a generative backend's prompt: what OCR read on the photos."""
    if not lines:
        return ""
    return "Text read from the photos (labels, tags): " + " | ".join(ln.text for ln in lines)


@functools.lru_cache(maxsize=4)
def _lexicon(brands: tuple[str, ...] | None) -> dict[str, str]:
    names = (
        brands
        if brands is not None
        else tuple(
            s.strip()
            for s in BRANDS_FILE.read_text(encoding="utf-8").splitlines()
            if s.strip() and not s.startswith("#")
        )
    )
    return {_key(n): n for n in names}


def _key(text: str) -> str:
    return re.sub(r"[^A-Z0-9&]", "", text.upper().replace("É", "E").replace("È", "E").replace("Ö", "O"))


def _brand_like(text: str) -> bool:
    letters = sum(c.isalpha() for c in text)
    return letters >= 2 and letters >= 0.6 * len(text.replace(" ", "")) and not NOT_BRAND.search(text)


def _title(text: str) -> str:
    return text.strip() if not text.isupper() or len(text) <= 4 else text.strip().title()


def _text(x: str | Line) -> str:
    return x.text if isinstance(x, Line) else x


def _conf(x: str | Line) -> float:
    return x.confidence if isinstance(x, Line) else 1.0
