"""``vestis serve`` as a process: it starts from the command line; two workers share one catalog
(writes through one are searched through both, no torn index); and crash safety of ingest through
the API: ``kill -9`` the server while clients upload, restart it, send again what was not
acknowledged: every photo is in the catalog exactly once, and the index agrees."""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.serve.conftest import AUTH, ITEMS, TOKEN
from tests.serve.test_browser import free_port

REPO = Path(__file__).resolve().parents[2]
ROUNDS = 3
REQUESTS_PER_ROUND = 6
PHOTOS_PER_REQUEST = 8


def noise_photo(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (96, 72, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


class Server:
    """``vestis serve`` in a subprocess (writable, with a token; its output in ``log``)."""

    def __init__(self, catalog: Path, log: Path, *flags: str, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "VESTIS_API_TOKEN": TOKEN, "OMP_NUM_THREADS": "1"}
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
        env["VESTIS_SERVE_PARSERS"] = "[whole]"
        env["VESTIS_SERVE_SCORER"] = "cooccurrence"
        env.update({f"VESTIS_SERVE_{k.upper()}": v for k, v in settings.items()})
        cmd = [
            sys.executable,
            "-m",
            "vestis.cli",
            "serve",
            "--catalog",
            str(catalog),
            "--port",
            str(self.port),
        ]
        self.log = open(log, "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen([*cmd, *flags], env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, http) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "the server exited"
            try:
                if http.get(self.url + "/ready").status_code == 200:
                    return
            except Exception:
                pass
            time.sleep(0.1)
        raise AssertionError("the server did not become ready")

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


def test_the_command_serves_the_page_and_the_api(catalog_dir, tmp_path):
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("uvicorn")
    server = Server(catalog_dir, tmp_path / "server.log")
    try:
        with httpx.Client() as http:
            server.wait_ready(http)
            assert "<title>vestis</title>" in http.get(server.url + "/").text
            assert http.get(server.url + "/api/search", params={"q": "red top", "k": 2}).json()["hits"]
            assert (
                http.post(
                    server.url + "/api/items", files=[("photos", ("a.png", noise_photo(1)))]
                ).status_code
                == 401
            )
    finally:
        server.stop()


def similar_ids(url: str) -> set[int]:
    """The ids of the 100 items most like item 1, over a new connection (either worker may answer)."""
    import httpx

    hits = httpx.get(url + "/api/items/1/similar", params={"k": 100}).json()["hits"]
    return {h["id"] for h in hits}


@pytest.mark.slow
def test_two_workers_share_one_catalog(catalog_dir, tmp_path):
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("uvicorn")
    server = Server(catalog_dir, tmp_path / "server.log", "--workers", "2", index_refresh_s="0.2")
    errors: list[str] = []
    stop = False

    def search_all_the_time() -> int:
        n = 0
        with httpx.Client(base_url=server.url, timeout=60) as c:
            while not stop:
                r = c.get("/api/items/1/similar", params={"k": 100})
                if r.status_code != 200:
                    errors.append(r.text)
                n += 1
        return n

    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            server.wait_ready(http)
            time.sleep(1)  # both workers up
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                readers = [pool.submit(search_all_the_time) for _ in range(4)]
                added = []
                for n in range(4):
                    files = [
                        ("photos", (f"{n}-{i}.png", noise_photo(500 + 10 * n + i), "image/png"))
                        for i in range(3)
                    ]
                    r = http.post("/api/items", files=files, headers=AUTH)
                    assert r.status_code == 201, r.text
                    added += r.json()["ids"]
                time.sleep(1)  # > index_refresh_s: every worker has caught up
                seen = [similar_ids(server.url) for _ in range(10)]
                gone = added[0]
                assert http.delete(f"/api/items/{gone}", headers=AUTH).status_code == 200
                time.sleep(1)
                after = [similar_ids(server.url) for _ in range(10)]
                stop = True
                searches = sum(f.result() for f in readers)
    finally:
        stop = True
        server.stop()
    assert len(added) == 12 and not errors and searches > 20
    assert all(set(added) <= ids for ids in seen)  # whichever worker answered, it had every item
    assert all(gone not in ids and set(added) - {gone} <= ids for ids in after)


def accepted_folders(uploads: Path) -> set[str]:
    return {p.name for p in uploads.glob("[!.]*")} if uploads.is_dir() else set()


def wait_for_ingest(uploads: Path, known: set[str], seconds: float = 20) -> None:
    """Return as soon as an upload folder is accepted (renamed into place) and not yet ingested."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name in accepted_folders(uploads) - known:
            if not (uploads / name / ".done").exists():
                return
        time.sleep(0.001)


@pytest.mark.slow
def test_kill_9_during_api_ingest_loses_and_doubles_nothing(catalog_dir, tmp_path):
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("uvicorn")
    rng = random.Random(0)
    batches = [
        [noise_photo(1000 * r + 10 * q + i) for i in range(PHOTOS_PER_REQUEST)]
        for r in range(ROUNDS)
        for q in range(REQUESTS_PER_ROUND)
    ]
    unacknowledged = list(range(len(batches)))
    log = tmp_path / "server.log"
    kills, resent = 0, set()

    def send(url: str, n: int) -> int | None:
        files = [("photos", (f"{n}-{i}.png", data, "image/png")) for i, data in enumerate(batches[n])]
        try:
            r = httpx.post(url + "/api/items", files=files, headers=AUTH, timeout=60)
        except httpx.HTTPError:
            return None  # the server died under this request
        return n if r.status_code == 201 else None

    with httpx.Client() as http:
        for round_ in range(ROUNDS):
            server = Server(catalog_dir, log)
            server.wait_ready(http)
            todo = unacknowledged[: (round_ + 1) * REQUESTS_PER_ROUND]
            with concurrent.futures.ThreadPoolExecutor(len(todo)) as pool:
                futures = [pool.submit(send, server.url, n) for n in todo]
                if round_ % 2 == 0:  # the moment an accepted upload is being ingested
                    wait_for_ingest(catalog_dir / "uploads", known=accepted_folders(catalog_dir / "uploads"))
                else:  # any moment
                    time.sleep(rng.uniform(0.05, 0.6))
                server.kill()
                kills += 1
                done = {f.result() for f in futures} - {None}
            resent |= set(todo) - done
            unacknowledged = [n for n in unacknowledged if n not in done]
        server = Server(catalog_dir, log)  # the last restart: resume, then send what is left
        server.wait_ready(http)
        for n in list(unacknowledged):
            assert send(server.url, n) == n
        deadline = time.monotonic() + 60
        while any(not (p / ".done").exists() for p in (catalog_dir / "uploads").glob("[!.]*")):
            assert time.monotonic() < deadline, "the resumed ingests never finished"
            time.sleep(0.2)
        stats = http.get(server.url + "/api/search", params={"k": 100, "offset": 0}).json()
        total = stats["total"]
        server.stop()

    sent = {hashlib.sha256(data).hexdigest() for batch in batches for data in batch}
    from vestis.catalog.catalog import Catalog
    from vestis.catalog.check import check_catalog

    report = check_catalog(catalog_dir)  # the database, the index and the thumbnails agree
    assert report.ok and not [f for f in report.findings if f.severity == "error"], report.to_dict()

    catalog = Catalog.open(catalog_dir)
    try:
        assert catalog.store.has_hash(sent) == sent  # nothing lost
        assert catalog.store.count() == len(ITEMS) + len(sent) == total  # nothing doubled
        assert len(catalog.index) == catalog.store.count()  # the index searches serve agrees with it
    finally:
        catalog.close()
    text = log.read_text(errors="replace")
    resumed, dropped = text.count("resuming the ingest of"), text.count("unfinished upload folders")
    print(
        f"crash: {kills} kills, {len(batches)} requests of {PHOTOS_PER_REQUEST} photos, "
        f"{len(resent)} sent again, {resumed} accepted uploads ingested again at a restart, "
        f"{dropped} restarts deleted unaccepted uploads; catalog check: {report.verdict()}"
    )
    assert resumed >= 1  # a kill landed between accepting an upload and finishing its ingest
