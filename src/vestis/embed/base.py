"""The Embedder contract: images and texts in, unit vectors in one shared space out.

A subclass implements :meth:`Embedder._embed_images` (RGB PIL images, already loaded),
:meth:`Embedder._embed_texts` (non-empty strings), :attr:`Embedder.dim` and
:attr:`Embedder.model_id`. It may assume batches are no larger than ``batch_size``; it must
return float32 arrays of shape ``[n, dim]`` whose rows are L2-normalised (this base checks).

``model_id`` names the vector space: two embedders with the same id give interchangeable
vectors, and a catalog refuses vectors from another one. :meth:`Embedder.compose` turns a
photo and a modification text into one query vector ("this, but in red"); the default is the
normalised sum, which a backend overrides when it has something better. Search queries go
through :meth:`Embedder.embed_queries`, which adds the embedder's text bank when it has one
(:mod:`vestis.embed.text_bank`).

>>> from vestis.embed import load_embedder
>>> e = load_embedder("test-random", dim=8)
>>> e.embed_texts(["red dress", "blue jeans"]).shape
(2, 8)
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from PIL import Image

from vestis.errors import InputError, OptionsError
from vestis.images import ImageLoadError, ImageSource, load_image
from vestis.options import check_kwargs
from vestis.registry import Registry

if TYPE_CHECKING:
    from vestis.embed.text_bank import TextBank

log = logging.getLogger(__name__)
MAX_TEXT_CHARS = 2000  # a query longer than this is refused, not embedded for seconds


class Embedder(ABC):
    """Base class of embedders. Register with ``@EMBEDDERS.register(name)``."""

    name: ClassVar[str] = ""
    batch_size: int = 32
    text_bank: TextBank | None = None  # carries text search queries to the image side (embed_queries)

    # ---- what a backend implements -------------------------------------------------------
    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of every vector."""

    @property
    @abstractmethod
    def model_id(self) -> str:
        """Identity of the vector space (model name plus a weights digest where there is one)."""

    @abstractmethod
    def _embed_images(self, images: list[Image.Image]) -> np.ndarray:
        """Unit vectors ``[len(images), dim]`` for RGB images."""

    @abstractmethod
    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        """Unit vectors ``[len(texts), dim]`` for non-empty texts."""

    # ---- what callers use ------------------------------------------------------------------
    def embed_images(self, sources: ImageSource | Sequence[ImageSource]) -> np.ndarray:
        """Vectors for one image or a list of them (paths, bytes or PIL images).

        An unreadable image raises :class:`~vestis.images.ImageLoadError`; use
        :meth:`embed_many` to embed a collection where some files may be bad.
        """
        items = _as_list(sources)
        images = [load_image(s) for s in items]
        return self._batched(images, self._embed_images)

    def embed_texts(self, texts: str | Sequence[str]) -> np.ndarray:
        """Vectors for one text or a list of them."""
        items = [texts] if isinstance(texts, str) else list(texts)
        for t in items:
            if not isinstance(t, str) or not t.strip():
                raise InputError("texts to embed must be non-empty strings")
            if len(t) > MAX_TEXT_CHARS:
                raise InputError(f"a text to embed is {len(t)} characters; the limit is {MAX_TEXT_CHARS}")
        return self._batched(items, self._embed_texts)

    def embed_queries(self, texts: str | Sequence[str]) -> np.ndarray:
        """Vectors for text *search queries*: :meth:`embed_texts`, carried towards the photos that
        match such wording by the embedder's :attr:`text_bank` when it has one
        (:mod:`vestis.embed.text_bank`). Texts that modify a photo or name an attribute use
        :meth:`embed_texts`."""
        vectors = self.embed_texts(texts)
        return vectors if self.text_bank is None else self.text_bank.expand(vectors)

    def use_text_bank(self, bank: TextBank | None) -> None:
        """Search text queries through ``bank`` (None: directly); a bank of another space is refused."""
        if bank is not None:
            bank.check_space(self.model_id)
        self.text_bank = bank

    def embed_many(
        self, sources: Sequence[ImageSource], progress: bool = True, description: str = "embedding images"
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(vectors [N, dim], ok [N])`` for many images; unreadable ones get zeros and ``ok=False``."""
        from vestis.progress import progress_bar

        out = np.zeros((len(sources), self.dim), dtype=np.float32)
        ok = np.zeros(len(sources), dtype=bool)
        with progress_bar(disable=not progress) as bar:
            task = bar.add_task(description, total=len(sources))
            for start in range(0, len(sources), self.batch_size):
                images, keep = [], []
                for j, source in enumerate(sources[start : start + self.batch_size]):
                    try:
                        images.append(load_image(source))
                        keep.append(start + j)
                    except ImageLoadError as exc:
                        log.warning("skipping %s", exc)
                if images:
                    out[keep] = self._batched(images, self._embed_images)
                    ok[keep] = True
                bar.advance(task, min(self.batch_size, len(sources) - start))
        return out, ok

    def compose(self, image_vector: np.ndarray, text_vector: np.ndarray) -> np.ndarray:
        """One query vector for "this photo, modified as the text says" (default: normalised sum)."""
        v = np.asarray(image_vector, dtype=np.float32) + np.asarray(text_vector, dtype=np.float32)
        return v / max(float(np.linalg.norm(v)), 1e-12)

    def _batched(self, items: list[Any], fn) -> np.ndarray:
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [fn(items[i : i + self.batch_size]) for i in range(0, len(items), self.batch_size)]
        out = np.concatenate(parts).astype(np.float32, copy=False)
        if out.shape != (len(items), self.dim):
            raise RuntimeError(
                f"embedder {self.name!r} returned shape {out.shape} for {len(items)} inputs of dim {self.dim}"
            )
        return out


EMBEDDERS: Registry[type[Embedder]] = Registry(
    "embedder", "vestis.embedders", builtins="vestis.embed.backends"
)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """``x`` [N, D] with every row scaled to length 1 (a zero row stays zero), float32."""
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def load_embedder(name: str = "lite", **options: Any) -> Embedder:
    """An embedder by registered name, with its options checked (unknown or mistyped → OptionsError).

    >>> load_embedder("lite").dim  # reads config.json; each tower loads on first use
    256
    """
    cls = EMBEDDERS.get(name)
    return cls(**check_kwargs(cls.__init__, options, what=f"{name} embedder option"))


def list_embedders() -> list[str]:
    return EMBEDDERS.names()


def _as_list(sources: ImageSource | Sequence[ImageSource]) -> list[ImageSource]:
    if isinstance(sources, (str, bytes, Image.Image)) or hasattr(sources, "__fspath__"):
        return [sources]  # type: ignore[list-item]
    if not isinstance(sources, Sequence):
        raise OptionsError(f"expected an image source or a list of them, not {type(sources).__name__}")
    return list(sources)


__all__ = ["EMBEDDERS", "MAX_TEXT_CHARS", "Embedder", "list_embedders", "load_embedder"]
