"""A small real catalog and service for the serve tests: drawn garments, the weightless test-random
embedder, the pixel-colour extractor (no model weights), and a stand-in parser for photos of people."""

from __future__ import annotations

import hashlib
import io
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import draw_item
from vestis.parse.base import Parsed, Parser, Region

TOKEN = "serve-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# (colour, category) of the catalog's items; drawn shapes make the test-random vectors differ
ITEMS = [
    (colour, category)
    for category in ("top", "bottom", "footwear")
    for colour in ("red", "navy", "black", "white", "green", "yellow")
]


def person_photo() -> Image.Image:
    """A grey background with a red "top" over a navy "bottom" (where :class:`Figure` finds them)."""
    img = np.full((200, 100, 3), 235, dtype=np.uint8)
    img[30:100, 20:80] = (200, 25, 30)
    img[100:190, 30:70] = (20, 30, 90)
    return Image.fromarray(img)


def jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


class Figure(Parser):
    """Stand-in parser: a photo taller than twice its width shows a person with a top and a bottom
    (where :func:`person_photo` paints them); anything else is a product shot."""

    name = "test-figure"

    def _parse_batch(self, images):
        out = []
        for im in images:
            w, h = im.size
            if h < 2 * w:
                out.append(Parsed("product", [Region((0, 0, w, h), 1.0)], (w, h)))
                continue
            sx, sy = w / 100, h / 200
            top = Region((int(20 * sx), int(30 * sy), int(80 * sx), int(100 * sy)), 0.21, "top", 0.9)
            bottom = Region((int(30 * sx), int(100 * sy), int(70 * sx), int(190 * sy)), 0.18, "bottom", 0.8)
            out.append(Parsed("person", [top, bottom], (w, h), 0.95))
        return out


def wait_ready(client, seconds: float = 60) -> None:
    """Wait until the models are loaded (``/ready`` answers 200)."""
    deadline = time.monotonic() + seconds
    while client.get("/ready").status_code != 200:
        assert time.monotonic() < deadline, "the service never became ready"
        time.sleep(0.02)


def build_catalog(directory: Path, photos: Path) -> Path:
    """A catalog of :data:`ITEMS`: attributes as drawn, test-random vectors, thumbnails, real files."""
    from vestis.catalog.catalog import Catalog, CatalogConfig
    from vestis.catalog.ingest import thumbnail
    from vestis.catalog.store import ItemRecord
    from vestis.images import load_image

    catalog = Catalog.create(
        directory, CatalogConfig(extractor="pixel-colour", embedder="test-random", index="exact")
    )
    records = []
    for n, (colour, category) in enumerate(ITEMS):
        path = draw_item(photos / f"{colour}-{category}.jpg", colour, category, size=60 + 2 * n)
        image = load_image(path)
        records.append(
            ItemRecord(
                content_hash=hashlib.sha256(path.read_bytes()).hexdigest(),
                source=str(photos),
                path=str(path),
                meta={"id": path.name},
                attributes=catalog.schema.validate({"category": category, "colour": colour}).partial,
                confidence={"category": 1.0, "colour": 1.0},
                thumbnail=thumbnail(image),
                embedding=catalog.embedder.embed_images([image])[0],
            )
        )
    catalog.add_items(records)
    catalog.save_index()
    catalog.close()
    return directory


@pytest.fixture(scope="session")
def catalog_template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("serve-catalog")
    return build_catalog(root / "catalog", root / "photos")


@pytest.fixture
def catalog_dir(catalog_template, tmp_path) -> Path:
    """A fresh copy of the catalog (tests that write get their own)."""
    return Path(shutil.copytree(catalog_template, tmp_path / "catalog"))


def start_client(catalog: Path, **overrides):
    """A started TestClient over ``catalog`` (a token, the whole parser and the stand-in one)."""
    pytest.importorskip("fastapi")
    pytest.importorskip("python_multipart")
    from fastapi.testclient import TestClient

    from vestis.serve import ServeSettings, create_app

    values = {"catalog": str(catalog), "token": TOKEN, "parsers": ["whole"], "batch_wait_ms": 1.0}
    values["scorer"] = "cooccurrence"  # the shipped scorer needs torch and lite embeddings
    values.update(overrides)
    app = create_app(ServeSettings(**values))
    app.state.service.use_parser("test-figure", Figure())
    client = TestClient(app, raise_server_exceptions=False)
    client.__enter__()
    wait_ready(client)
    return client


@pytest.fixture
def make_client(catalog_dir):
    """``make_client(**settings)`` → a started TestClient over a fresh copy of the catalog."""
    clients = []

    def make(**overrides):
        clients.append(start_client(catalog_dir, **overrides))
        return clients[-1]

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture(scope="session")
def client(catalog_template, tmp_path_factory):
    """One service shared by the tests that change nothing (its catalog is a copy all the same)."""
    copy = Path(shutil.copytree(catalog_template, tmp_path_factory.mktemp("shared") / "catalog"))
    started = start_client(copy)
    yield started
    started.__exit__(None, None, None)


@pytest.fixture(scope="session")
def photo_bytes(catalog_template) -> bytes:
    """A JPEG of a red top like the catalog's (not the same bytes)."""
    buf = io.BytesIO()
    draw_item(Path(catalog_template).parent / "query" / "q.png", "red", "top", size=70)
    Image.open(Path(catalog_template).parent / "query" / "q.png").convert("RGB").save(buf, format="JPEG")
    return buf.getvalue()
