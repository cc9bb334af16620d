"""Request counts and latencies in the Prometheus text format (``GET /metrics``), per process.

Requests are counted by method, route template (``/api/items/{item_id}``, never the raw path, so
the label set stays bounded) and status; latencies go into a histogram per route. Micro-batch
sizes of extract requests and the requests refused as busy are recorded too. With several
workers each process reports its own numbers (a scraper sums them).
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: str) -> list[str]:
        out, cumulative = [], 0
        sep = "," if labels else ""
        for bound, n in zip((*self.buckets, float("inf")), self.counts, strict=True):
            cumulative += n
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            out.append(f'{name}_bucket{{{labels}{sep}le="{le}"}} {cumulative}')
        braces = f"{{{labels}}}" if labels else ""
        out.append(f"{name}_sum{braces} {self.sum:.6f}")
        out.append(f"{name}_count{braces} {self.count}")
        return out


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency: dict[tuple[str, str], Histogram] = {}
        self.batches = Histogram(BATCH_BUCKETS)
        self.search_batches = Histogram(BATCH_BUCKETS)
        self.rejected_busy = 0

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, status)] += 1
            key = (method, route)
            if key not in self.latency:
                self.latency[key] = Histogram(LATENCY_BUCKETS)
            self.latency[key].observe(seconds)

    def observe_batch(self, size: int) -> None:
        with self._lock:
            self.batches.observe(size)

    def observe_search_batch(self, size: int) -> None:
        with self._lock:
            self.search_batches.observe(size)

    def render(self, waiting: int = 0, items: int | None = None) -> str:
        with self._lock:
            lines = [
                "# HELP vestis_requests_total HTTP requests by method, route and status.",
                "# TYPE vestis_requests_total counter",
            ]
            for (method, route, status), n in sorted(self.requests.items()):
                lines.append(f'vestis_requests_total{{{_labels(method, route)},status="{status}"}} {n}')
            lines += [
                "# HELP vestis_request_seconds Request latency by method and route.",
                "# TYPE vestis_request_seconds histogram",
            ]
            for (method, route), hist in sorted(self.latency.items()):
                lines += hist.lines("vestis_request_seconds", _labels(method, route))
            lines += [
                "# HELP vestis_extract_batch_size Photos per micro-batch of extract requests.",
                "# TYPE vestis_extract_batch_size histogram",
                *self.batches.lines("vestis_extract_batch_size", ""),
                "# HELP vestis_search_batch_size Queries per micro-batch of search requests.",
                "# TYPE vestis_search_batch_size histogram",
                *self.search_batches.lines("vestis_search_batch_size", ""),
                "# HELP vestis_busy_rejections_total Requests refused with 503 because the models were busy.",
                "# TYPE vestis_busy_rejections_total counter",
                f"vestis_busy_rejections_total {self.rejected_busy}",
                "# HELP vestis_model_calls_waiting Model calls queued or running now.",
                "# TYPE vestis_model_calls_waiting gauge",
                f"vestis_model_calls_waiting {waiting}",
            ]
            if items is not None:
                lines += [
                    "# HELP vestis_catalog_items Items in the catalog.",
                    "# TYPE vestis_catalog_items gauge",
                    f"vestis_catalog_items {items}",
                ]
        return "\n".join(lines) + "\n"


def _labels(method: str, route: str) -> str:
    route = route.replace("\\", "\\\\").replace('"', '\\"')
    return f'method="{method}",route="{route}"'


__all__ = ["Metrics"]
