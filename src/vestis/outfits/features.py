"""Item features of a dataset's outfits: one extractor pass over the outfits' items, cached.

A dataset with outfits (``mango``, ``polyvore``) has an ``outfits()`` method giving outfit id →
item ids. Each item is embedded and classified once with the extractor (vestis-lite); its
category (the field with the schema's ``category`` role) is the dataset's label when it has
one, else the extractor's prediction. Results
are cached in ``cache_dir`` under a key of the model id and the image paths, so training and
evaluation runs share one pass.

Photos of people are outfits too: :func:`photo_looks` parses each photo into its garments (a
parser such as ``lite-parser``), describes and embeds each garment's crop, and makes the photo's
garments one look, for training beside a dataset's stylist outfits.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vestis.data import Dataset, DatasetError
from vestis.outfits.data import OutfitData
from vestis.progress import progress_bar

log = logging.getLogger(__name__)


def dataset_outfits(dataset: Dataset) -> dict[str, list[str]]:
    """The dataset's outfits, or a clear error when it has none."""
    outfits = dataset.outfits() if hasattr(dataset, "outfits") else {}
    if not outfits:
        raise DatasetError(f"{dataset.name} has no outfits (use mango, polyvore or another outfit dataset)")
    return outfits


def outfit_data(
    dataset: Dataset,
    extractor,
    embedder,
    cache_dir: str | Path | None = None,
    batch: int = 128,
    progress: bool = True,
) -> OutfitData:
    """An :class:`OutfitData` of every item that appears in an outfit of ``dataset``.

    Items get the extractor's attributes and the embedder's vectors (one pass when they share a
    model), cached in ``cache_dir`` under both models' identities.

    Outfit items missing from the dataset are left out of their outfits (counted in the log);
    outfits left with fewer than two items are dropped.
    """
    outfits = dataset_outfits(dataset)
    by_id = {ex.id: ex for ex in dataset.examples()}
    used = sorted({i for items in outfits.values() for i in items if i in by_id})
    missing = sum(1 for items in outfits.values() for i in items if i not in by_id)
    if missing:
        log.warning("%s: %d outfit items have no image in the dataset; left out", dataset.name, missing)
    examples = [by_id[i] for i in used]
    paths = [ex.image for ex in examples]
    emb, attributes = _extract_cached(extractor, embedder, paths, cache_dir, batch, progress)
    role = extractor.schema.by_role("category")
    categories = [
        (ex.labels.get(role.name) or attrs.get(role.name)) if role is not None else None
        for ex, attrs in zip(examples, attributes, strict=True)
    ]
    index = {k: i for i, k in enumerate(used)}
    table = {k: [index[i] for i in items if i in index] for k, items in outfits.items()}
    return OutfitData(
        ids=used,
        embeddings=emb,
        categories=categories,
        outfits={k: v for k, v in table.items() if len(v) >= 2},
        images=paths,
        attributes=attributes,
    )


def _extract_cached(extractor, embedder, paths, cache_dir, batch, progress):
    from vestis.extract.embed import extract_and_embed
    from vestis.images import ImageLoadError, load_image

    path = None
    if cache_dir is not None:
        key = f"outfit-items-v2|{type(extractor).__name__}|{extractor.embedding_model_id}|{embedder.model_id}"
        h = hashlib.sha1(key.encode())
        for p in paths:
            h.update(p.encode() + b"\0")
        path = Path(cache_dir) / f"outfit-items-{h.hexdigest()[:16]}.npz"
        if path.is_file():
            cached = np.load(path)
            return cached["embeddings"], json.loads(str(cached["attributes"]))
    embeddings: list[np.ndarray] = []
    attributes: list[dict] = []
    dim = embedder.dim
    with progress_bar(disable=not progress) as bar:
        task = bar.add_task("outfit items", total=len(paths))
        for start in range(0, len(paths), batch):
            chunk = paths[start : start + batch]
            images: dict[int, object] = {}
            for j, p in enumerate(chunk):
                try:
                    images[j] = load_image(p)
                except ImageLoadError as exc:
                    log.warning("outfit item skipped: %s", exc)
            results, vectors = extract_and_embed(extractor, embedder, list(images.values()))
            done = dict(zip(images, zip(results, vectors, strict=True), strict=True))
            for j in range(len(chunk)):
                r, v = done.get(j, (None, None))
                embeddings.append(np.asarray(v, np.float32) if r is not None else np.zeros(dim, np.float32))
                attributes.append(r.attributes if r is not None else extractor.schema.empty())
            bar.advance(task, len(chunk))
    emb = np.stack(embeddings) if embeddings else np.zeros((0, dim), np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, embeddings=emb, attributes=np.array(json.dumps(attributes)))
        tmp.replace(path)
    return emb, attributes


def photo_looks(
    photos: Sequence[tuple[str, str | Path, Sequence[str]]],
    extractor,
    embedder,
    parser="lite-parser",
    cache_dir: str | Path | None = None,
    label_map: str | None = "street",
    batch: int = 32,
    progress: bool = True,
) -> OutfitData:
    """The garments of photos of people as looks: ``photos`` are (id, image path, tags).

    Each photo is parsed into garments (``parser``: a name or a Parser) and each garment's crop is
    described and embedded (:class:`~vestis.extract.items.ItemExtractor`: the parser's class sets
    the category). With ``label_map`` and tags, only garments of the coarse classes the tags name
    are kept (the tags say what the person wears; the parser says where). A photo with fewer than
    two garments left makes no look. Item ids are ``<photo id>#<garment number>``; looks are keyed
    by photo id. Cached in ``cache_dir`` under the models' identities and the photos.
    """
    from vestis.extract.items import ItemExtractor
    from vestis.images import ImageLoadError, load_image
    from vestis.parse.base import load_parser

    parser = load_parser(parser) if isinstance(parser, str) else parser
    mapping = None
    if label_map is not None:
        from vestis.parse.labels import load_label_map

        mapping = load_label_map(label_map)
    path = None
    if cache_dir is not None:
        key = (
            f"photo-looks-v1|{type(extractor).__name__}|{extractor.embedding_model_id}|{embedder.model_id}|"
            f"{parser.name}|{getattr(parser, 'config', '')}|{label_map}"
        )
        h = hashlib.sha1(key.encode())
        for pid, image, tags in photos:
            h.update(f"{pid}|{image}|{';'.join(tags)}\0".encode())
        path = Path(cache_dir) / f"photo-looks-{h.hexdigest()[:16]}.npz"
        if path.is_file():
            cached = np.load(path)
            table = json.loads(str(cached["table"]))
            return OutfitData(
                table["ids"], cached["embeddings"], table["categories"], table["outfits"], table["images"],
                table["attributes"],
            )  # fmt: skip
    role = extractor.schema.by_role("category")
    describer = ItemExtractor(extractor, parser)
    ids: list[str] = []
    vectors: list[np.ndarray] = []
    categories: list[str | None] = []
    images: list[str] = []
    attributes: list[dict] = []
    outfits: dict[str, list[int]] = {}
    with progress_bar(disable=not progress) as bar:
        task = bar.add_task("photo looks", total=len(photos))
        for start in range(0, len(photos), batch):
            chunk = photos[start : start + batch]
            loaded = {}
            for j, (_, image, _) in enumerate(chunk):
                try:
                    loaded[j] = load_image(image)
                except ImageLoadError as exc:
                    log.warning("photo skipped: %s", exc)
            described = describer.describe(list(loaded.values()), embedder)
            for j, photo in zip(loaded, described, strict=True):
                pid, image, tags = chunk[j]
                worn = mapping.garments(list(tags)) if mapping is not None and tags else None
                look = []
                if photo.parsed.garments:
                    for n, (item, vector) in enumerate(zip(photo.items, photo.vectors, strict=True)):
                        if worn is not None and item.category not in worn:
                            continue
                        look.append(len(ids))
                        ids.append(f"{pid}#{n}")
                        vectors.append(np.asarray(vector, dtype=np.float32))
                        categories.append(item.attributes.get(role.name) if role is not None else None)
                        images.append(str(image))
                        attributes.append(item.attributes)
                if len(look) >= 2:
                    outfits[str(pid)] = look
            bar.advance(task, len(chunk))
    emb = np.stack(vectors) if vectors else np.zeros((0, embedder.dim), np.float32)
    data = OutfitData(ids, emb, categories, outfits, images, attributes)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        table = {
            "ids": ids,
            "categories": categories,
            "outfits": outfits,
            "images": images,
            "attributes": attributes,
        }
        np.savez(tmp, embeddings=emb, table=np.array(json.dumps(table)))
        tmp.replace(path)
    return data
