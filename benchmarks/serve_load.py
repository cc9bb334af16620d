"""Load on ``vestis serve``: concurrent clients for a fixed time, search and extract mixed.

Starts a real server (``vestis serve --read-only``, uvicorn, the demo catalog built from
``examples/catalog`` when missing) per scenario and drives it from this process with asyncio +
httpx: each client sends its next request as soon as the last one answered. Scenarios:

* ``mixed``: ``--clients`` clients for ``--seconds``, 70% text searches (one of 12 queries, k=24),
  30% extracts of a product photo; with ``--workers 1`` and ``--workers 2``.
* ``batching``: extracts only, then text searches only, each on a server with micro-batching on
  (``batch_max`` / ``search_batch_max`` 16) and off (1): the gain of batching concurrent requests.
  The ``mixed`` rows run the defaults: extracts batched (16), searches not (1).

Prints a table (p50/p99 latency, throughput, errors) and writes benchmarks/results/serve_load.json.
Client and server share the machine's cores: the figures are for the whole box.

    .venv/bin/python benchmarks/serve_load.py --clients 50 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUERIES = [
    "black shoes",
    "red dress",
    "white t-shirt",
    "blue jeans",
    "summer dress",
    "wool coat",
    "striped shirt",
    "leather jacket",
    "floral skirt",
    "grey hoodie",
    "black trousers",
    "yellow top",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``vestis serve --read-only`` in a subprocess, with settings in the environment."""

    def __init__(self, catalog: str, workers: int, threads: int, **settings) -> None:
        self.port = free_port()
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        env.update({f"VESTIS_SERVE_{k.upper()}": str(v) for k, v in settings.items()})
        env["VESTIS_API_TOKEN"] = secrets.token_hex(16)
        cmd = [sys.executable, "-m", "vestis.cli", "serve", "--catalog", catalog, "--read-only"]
        cmd += ["--port", str(self.port), "--workers", str(workers), "--log-level", "warning"]
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, client, seconds: float = 180) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}")
            try:
                if client.get(self.url + "/ready").status_code == 200:
                    return
            except Exception:  # not listening yet
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not become ready")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def drive(url: str, clients: int, seconds: float, extract_share: float, photos: list[bytes], seed: int):
    import httpx

    latencies: dict[str, list[float]] = {"search": [], "extract": []}
    errors: dict[str, int] = {}
    rng = random.Random(seed)
    # idle connections expire on the client first (the server keeps them keep_alive_s, 75 s): a request
    # never goes out on a connection the server is closing at that moment
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=30)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        stop = time.perf_counter() + seconds

        async def client() -> None:
            while time.perf_counter() < stop:
                kind = "extract" if rng.random() < extract_share else "search"
                t0 = time.perf_counter()
                try:
                    if kind == "extract":
                        files = [("photos", ("p.jpg", rng.choice(photos), "image/jpeg"))]
                        r = await http.post("/api/extract", files=files)
                    else:
                        r = await http.get("/api/search", params={"q": rng.choice(QUERIES), "k": 24})
                    ok = r.status_code == 200
                    key = f"{kind} {r.status_code}"
                except Exception as exc:
                    ok, key = False, f"{kind} {type(exc).__name__}"
                if ok:
                    latencies[kind].append(time.perf_counter() - t0)
                else:
                    errors[key] = errors.get(key, 0) + 1

        t_start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - t_start
    return latencies, errors, elapsed


def summarise(latencies: dict[str, list[float]], errors: dict[str, int], elapsed: float) -> dict:
    def stats(values: list[float]) -> dict:
        if not values:
            return {"requests": 0}
        ordered = sorted(values)
        return {
            "requests": len(values),
            "per_s": round(len(values) / elapsed, 2),
            "p50_ms": round(1000 * statistics.median(ordered), 1),
            "p99_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1),
        }

    everything = [v for vs in latencies.values() for v in vs]
    return {
        "seconds": round(elapsed, 1),
        "all": stats(everything),
        **{kind: stats(vs) for kind, vs in latencies.items() if vs},
        "errors": sum(errors.values()),
        "error_kinds": errors,
    }


def run_scenario(name, catalog, photos, args, workers, extract_share, **settings) -> dict:
    import httpx

    threads = max(1, args.threads // workers)
    server = Server(catalog, workers, threads, **settings)
    try:
        with httpx.Client() as c:
            server.wait_ready(c)
            for q in QUERIES[:3]:  # warm: the text tower, the extractor, the page cache
                c.get(server.url + "/api/search", params={"q": q})
            c.post(server.url + "/api/extract", files=[("photos", ("p.jpg", photos[0], "image/jpeg"))])
        load = os.getloadavg()[0]
        result = asyncio.run(drive(server.url, args.clients, args.seconds, extract_share, photos, args.seed))
    finally:
        server.stop()
    row = summarise(*result)
    row.update(
        scenario=name,
        workers=workers,
        torch_threads_per_worker=threads,
        clients=args.clients,
        extract_share=extract_share,
        settings=settings,
        load_average_before=round(load, 2),
    )
    return row


def _batch(row: dict) -> str:
    """The micro-batch sizes a row ran with: extracts/searches (defaults 16/1)."""
    settings = row["settings"]
    return f"{settings.get('batch_max', 16)}/{settings.get('search_batch_max', 1)}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--catalog", default="runs/demo/example-catalog")
    ap.add_argument("--source", default="examples/catalog", help="ingested when --catalog is missing")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--batching-seconds", type=float, default=30)
    ap.add_argument("--threads", type=int, default=2, help="torch threads in all (split between workers)")
    ap.add_argument("--scenarios", default="mixed,batching")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/serve_load.json")
    args = ap.parse_args(argv)
    if not (REPO / args.catalog / "catalog.json").is_file():
        cmd = [sys.executable, "-m", "vestis.cli", "ingest", args.source, "--catalog", args.catalog]
        subprocess.run(cmd, cwd=REPO, check=True)
    photos = [p.read_bytes() for p in sorted((REPO / args.source).glob("*.jpg"))[:16]]
    rows = []
    wanted = args.scenarios.split(",")
    if "mixed" in wanted:
        for workers in (1, 2):
            rows.append(run_scenario("mixed", args.catalog, photos, args, workers, 0.3))
            print(json.dumps(rows[-1]), flush=True)
    if "batching" in wanted:
        seconds, args.seconds = args.seconds, args.batching_seconds
        for share in (1.0, 0.0):  # extracts only, searches only
            for batch_max in (16, 1):
                size = {"batch_max": batch_max} if share else {"search_batch_max": batch_max}
                row = run_scenario("batching", args.catalog, photos, args, 1, share, **size)
                rows.append(row)
                print(json.dumps(rows[-1]), flush=True)
        args.seconds = seconds
    header = f"{'scenario':<10} {'workers':>7} {'batch':>5} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8}"
    header += f" {'search p50/p99':>15} {'extract p50/p99':>16} {'errors':>6}"
    print(header)
    for r in rows:
        a, s, e = r["all"], r.get("search", {}), r.get("extract", {})
        pair = lambda d: f"{d.get('p50_ms', '-')}/{d.get('p99_ms', '-')}"  # noqa: E731
        print(
            f"{r['scenario']:<10} {r['workers']:>7} {_batch(r):>5} "
            f"{a.get('per_s', 0):>7} {a.get('p50_ms', '-'):>8} {a.get('p99_ms', '-'):>8} "
            f"{pair(s):>15} {pair(e):>16} {r['errors']:>6}"
        )
    out = {
        "command": "benchmarks/serve_load.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "catalog": args.catalog,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "rows": rows,
    }
    Path(REPO / args.out).parent.mkdir(parents=True, exist_ok=True)
    (REPO / args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
