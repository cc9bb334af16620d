"""A local OpenAI-compatible chat endpoint for tests (127.0.0.1 only, never the network).

Answers follow a script: each request takes the next behaviour from ``server.script`` (``ok``
when it is empty). ``ok`` answers a JSON object whose colour is read from the photo's mean
pixel, so answers depend on the image. Requests are kept in ``server.requests``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

BEHAVIOURS = ("ok", "malformed", "refusal", "429", "500", "timeout", "drop", "401", "length", "synonyms")


def colour_of(url: str) -> str:
    img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB").resize((1, 1))
    r, g, b = img.getpixel((0, 0))
    if max(r, g, b) < 60:
        return "black"
    return {0: "red", 1: "green", 2: "blue"}[max(range(3), key=lambda i: (r, g, b)[i])]


def _answer(body: dict, colour: str) -> dict:
    """Every field the request's schema names: null or [], with a category and the photo's colour."""
    props = body["response_format"]["json_schema"]["schema"]["properties"]
    out = {k: ([] if p["type"] == "array" else None) for k, p in props.items()}
    for key in ("category", "type"):
        if key in props and "top" in props[key].get("enum", []):
            out[key] = "top"
    for key in ("colour", "color"):
        if key in props:
            out[key] = colour
    return out


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.requests.append(
                {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
            )
            behaviour = self.server.script.popleft() if self.server.script else "ok"
        images = [c["image_url"]["url"] for c in body["messages"][-1]["content"] if c["type"] == "image_url"]
        if behaviour == "drop":
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if behaviour == "timeout":
            time.sleep(self.server.hang_seconds)
        if behaviour in ("429", "500", "401"):
            self._send(int(behaviour), {"error": {"message": f"scripted {behaviour}"}}, retry_after="0")
            return
        content: str | None
        message: dict = {"role": "assistant"}
        finish = "stop"
        if behaviour == "malformed":
            content = '{"category": "top", "colour": "red"'  # cut short
        elif behaviour == "length":
            content, finish = '{"category": "to', "length"
        elif behaviour == "synonyms":
            content = json.dumps({"Category": "Dress", "colour": "Navy Blue", "pattern": "polka-dot-ish"})
        elif behaviour == "refusal":
            content, message["refusal"] = None, "I can't help with that."
        else:
            content = json.dumps(_answer(body, colour_of(images[0])))
        message["content"] = content
        self._send(
            200,
            {
                "id": "chatcmpl-test",
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {
                    "prompt_tokens": 100 * len(images),
                    "completion_tokens": 20,
                    "total_tokens": 100 * len(images) + 20,
                },
            },
        )

    def _send(self, status: int, payload: dict, retry_after: str | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if retry_after is not None:
            self.send_header("Retry-After", retry_after)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)


class FakeOpenAI(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: deque[str] = deque()
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.hang_seconds = 2.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()
