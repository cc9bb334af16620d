"""``openai``: any OpenAI-compatible chat endpoint (a vLLM server, hosted APIs) writes the JSON.

The request carries the schema's prompt, the photo inline (a JPEG data URL, resized so its
longest side is at most ``max_side``) and ``response_format`` = the schema as a strict JSON
Schema (:func:`vestis.schema.structured.structured_output_schema`), so engines that honour
structured outputs (vLLM, OpenAI) answer valid JSON by construction. Whatever comes back is
still validated: repaired by the schema where it can be (case, synonyms), nulled field by
field where it cannot, with the raw text and the error kept in the result.

Endpoint and key come from ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` as with the openai SDK,
or from the ``base_url`` / ``api_key`` options; the model name from ``model``. Requests run
``concurrency`` at a time; 429 and 5xx answers, timeouts and dropped connections are retried
with exponential backoff (honouring ``Retry-After``) up to ``max_retries`` times. Each result's
``usage`` holds the tokens, the latency and the attempts. A refused or failed request gives a
result with ``error`` set and null attributes, never an exception; a rejected API key (401/403)
stops the run with one clear error. With ``labels`` ("auto": when the schema has a brand or size
role and rapidocr is installed) the text OCR reads on the photos goes into the prompt.

Scaling past one machine: serve a model with vLLM (``vllm serve Qwen/Qwen2.5-VL-7B-Instruct``)
and point ``--backend openai --set base_url=http://host:8000/v1 --set model=...`` at it.

>>> ex = load_extractor("openai", model="gpt-4o-mini")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PIL import Image

from vestis.errors import OptionsError, UserError
from vestis.extract.base import EXTRACTORS, Extraction, Extractor
from vestis.extract.labels import label_prompt, label_reader_for
from vestis.schema import Schema
from vestis.schema.structured import structured_output_schema

log = logging.getLogger(__name__)
DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class EndpointRejected(UserError):
    """The endpoint refused the credentials or the model (401, 403, 404): no image can succeed."""


@EXTRACTORS.register("openai")
class OpenAIExtractor(Extractor):
    """An OpenAI-compatible endpoint (vLLM, hosted APIs) with the schema as response_format."""

    name = "openai"
    multi_image = True

    def __init__(
        self,
        schema: Schema,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 1.0,
        max_tokens: int = 1024,
        temperature: float = 0.0,
        max_side: int = 1024,
        structured: bool = True,
        batch_size: int = 32,
        labels: str = "auto",
    ) -> None:
        super().__init__(schema)
        if not model:
            raise OptionsError("the openai backend needs a model name (--set model=NAME, e.g. gpt-4o-mini)")
        for name, value in (("concurrency", concurrency), ("batch_size", batch_size), ("max_side", max_side)):
            if value < 1:
                raise OptionsError(f"{name} must be at least 1")
        if timeout <= 0 or max_retries < 0 or backoff < 0:
            raise OptionsError("timeout must be positive; max_retries and backoff 0 or more")
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY")
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.max_side = max_side
        self.structured = structured
        self.batch_size = batch_size
        self.labels = label_reader_for(schema, labels)
        self._client: Any = None

    # ---- requests ----------------------------------------------------------------------------
    def _http(self):
        if self._client is None:
            import httpx

            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.Client(
                base_url=self.base_url,
                headers=headers,
                timeout=self.timeout,
                limits=httpx.Limits(max_connections=self.concurrency),
            )
        return self._client

    def request_body(self, images: list[Image.Image]) -> dict[str, Any]:
        """The chat-completions request for one item (one or several photos of it)."""
        text = "Describe this garment."
        if self.labels is not None:
            read = label_prompt([line for im in images for line in self.labels.read(im)])
            text = f"{text}\n{read}" if read else text
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        content += [{"type": "image_url", "image_url": {"url": data_url(im, self.max_side)}} for im in images]
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": self.schema.prompt()},
                {"role": "user", "content": content},
            ],
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }
        if self.structured:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": f"vestis_{self.schema.name}".replace("-", "_")[:64],
                    "schema": structured_output_schema(self.schema),
                    "strict": True,
                },
            }
        return body

    def _post(self, body: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None, dict[str, Any]]:
        """(response JSON or None, error or None, usage) after retries."""
        import httpx

        usage: dict[str, Any] = {"attempts": 0}
        start = time.perf_counter()
        error = None
        for attempt in range(self.max_retries + 1):
            usage["attempts"] = attempt + 1
            try:
                response = self._http().post("/chat/completions", json=body)
            except httpx.TimeoutException:
                error, wait = f"timed out after {self.timeout:g} s", None
            except httpx.TransportError as exc:
                error, wait = f"connection failed ({type(exc).__name__}: {exc})", None
            else:
                if response.status_code in (401, 403, 404):
                    raise EndpointRejected(
                        f"{self.base_url} answered {response.status_code} for model {self.model!r}: "
                        f"{_message(response)}. Check OPENAI_API_KEY, OPENAI_BASE_URL and --set model=..."
                    )
                if response.status_code == 200:
                    try:
                        data = response.json()
                    except ValueError:
                        return None, "the endpoint answered 200 with a body that is not JSON", usage
                    usage["seconds"] = round(time.perf_counter() - start, 3)
                    return data, None, usage | _tokens(data)
                error = f"HTTP {response.status_code}: {_message(response)}"
                if response.status_code not in RETRY_STATUS:
                    break
                wait = _retry_after(response)
            if attempt < self.max_retries:
                time.sleep(wait if wait is not None else self.backoff * 2**attempt * (0.5 + random.random()))
        usage["seconds"] = round(time.perf_counter() - start, 3)
        return None, error, usage

    # ---- extraction --------------------------------------------------------------------------
    def _extract_one(self, images: list[Image.Image]) -> Extraction:
        data, error, usage = self._post(self.request_body(images))
        if data is None:
            return Extraction(self.schema.empty(), {}, None, False, [], 0.0, error, usage=usage)
        try:
            message = data["choices"][0]["message"]
        except (KeyError, IndexError, TypeError):
            return Extraction(
                self.schema.empty(), {}, data, False, [], 0.0, "no choices in the answer", usage=usage
            )
        if message.get("refusal"):
            error = f"refused: {message['refusal']}"
            return Extraction(
                self.schema.empty(), {}, message.get("refusal"), False, [], 0.0, error, usage=usage
            )
        text = message.get("content") or ""
        result = self.from_raw(text)
        result.usage = usage
        if data["choices"][0].get("finish_reason") == "length":
            result.error = "; ".join(x for x in (result.error, "answer cut at max_tokens") if x)
        return result

    def _extract_batch(self, images: list[Image.Image]) -> list[Extraction]:
        return self._extract_items([[im] for im in images])

    def _extract_items(self, items: list[list[Image.Image]]) -> list[Extraction]:
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items)) or 1) as pool:
            return list(pool.map(self._extract_one, items))


def data_url(image: Image.Image, max_side: int) -> str:
    """The image as a JPEG data URL, its longest side at most ``max_side`` pixels."""
    im = image.convert("RGB")
    if max(im.size) > max_side:
        im = im.copy()
        im.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _tokens(data: dict[str, Any]) -> dict[str, Any]:
    usage = data.get("usage") or {}
    return {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens") if k in usage}


def _message(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return str(err.get("message", err))[:200]
    return json.dumps(body)[:200]


def _retry_after(response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return min(float(value), 60.0) if value is not None else None
    except ValueError:
        return None
