"""Crash safety of ingest through the API: ``kill -9`` the server while clients upload, restart it,
send again what was not acknowledged: every photo is in the catalog exactly once, the index agrees."""

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
ROUNDS = 4
REQUESTS_PER_ROUND = 6
PHOTOS_PER_REQUEST = 8


def noise_photo(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (96, 72, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


class Server:
    def __init__(self, catalog: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "VESTIS_API_TOKEN": TOKEN, "OMP_NUM_THREADS": "1"}
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
        env["VESTIS_SERVE_PARSERS"] = "[whole]"
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
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)

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
    kills = 0

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
                time.sleep(rng.uniform(0.05, 0.6))
                server.kill()
                kills += 1
                done = {f.result() for f in futures} - {None}
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

    catalog = Catalog.open(catalog_dir)
    try:
        assert catalog.store.has_hash(sent) == sent  # nothing lost
        assert catalog.store.count() == len(ITEMS) + len(sent) == total  # nothing doubled
        assert len(catalog.index) == catalog.store.count()  # the index searches serve agrees with it
    finally:
        catalog.close()
    resumed = log.read_text(errors="replace").count("resuming the ingest of")
    print(f"crash: {kills} kills, {len(sent)} photos, {resumed} accepted uploads resumed after a kill")
