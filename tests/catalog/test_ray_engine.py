"""The Ray engine writes the same catalog as the local one (local Ray, actors with num_cpus < 1)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import draw_item
from vestis.cli.main import main

pytest.importorskip("ray")


@pytest.mark.slow
def test_ray_ingest_matches_local_ingest(tmp_path, tiny_lite, capsys, monkeypatch):
    import ray

    from vestis.catalog.catalog import Catalog

    monkeypatch.setenv("VESTIS_RAY_ACTORS", "2")
    monkeypatch.setenv("VESTIS_RAY_ACTOR_CPUS", "0.5")
    shop = tmp_path / "shop"
    for i, (colour, category) in enumerate([("red", "top"), ("navy", "bottom"), ("yellow", "footwear")] * 3):
        draw_item(shop / f"{i}.jpg", colour, category, size=64 + 4 * i)
    (shop / "bad.jpg").write_bytes(b"not a jpeg")
    summaries = {}
    try:
        for engine in ("local", "ray"):
            args = [
                "ingest",
                str(shop),
                "--catalog",
                str(tmp_path / engine),
                "--model",
                str(tiny_lite),
                "--index",
                "exact",
                "--engine",
                engine,
                "--batch-size",
                "4",
                "--json",
            ]
            assert main(args) == 0
            summaries[engine] = json.loads(capsys.readouterr().out)
    finally:
        ray.shutdown()
    assert summaries["ray"]["added"] == summaries["local"]["added"] == 9
    assert summaries["ray"]["skipped"] == 1
    local, distributed = Catalog.open(tmp_path / "local"), Catalog.open(tmp_path / "ray")
    by_path = {i.path: i for i in local.store.get(local.store.ids())}
    for item in distributed.store.get(distributed.store.ids()):
        twin = by_path[item.path]
        assert item.attributes == twin.attributes
    _ids_l, vec_l, _ = next(local.store.iter_embeddings(batch=100))
    _ids_r, vec_r, _ = next(distributed.store.iter_embeddings(batch=100))
    assert vec_l.shape == vec_r.shape
    assert np.allclose(np.sort(vec_l, axis=0), np.sort(vec_r, axis=0), atol=1e-4)
    assert len(distributed.index) == 9
