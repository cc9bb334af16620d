"""The service's settings: one dataclass, filled from a file, then the environment, then flags.

Every field can be set in a YAML/JSON file (``vestis serve --config serve.yaml``), in the
environment as ``VESTIS_SERVE_<FIELD>`` (the value read as YAML: ``VESTIS_SERVE_MAX_K=50``,
``VESTIS_SERVE_CORS_ORIGINS='[https://shop.example]'``), and by the command's flags; a later
source wins. Values are type- and range-checked before anything starts.

The bearer token for the write endpoints is never a setting: it comes from ``VESTIS_API_TOKEN``
or from the file named by ``token_file``, and has no default. A writable server refuses to start
without one (:func:`resolve_token`); ``read_only`` serves the read endpoints only.

>>> s = load_settings(overrides={"catalog": "shop", "max_k": 50}, environ={})
>>> s.catalog, s.max_k, s.read_only
('shop', 50, False)
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vestis.errors import OptionsError
from vestis.options import check_fields

ENV_PREFIX = "VESTIS_SERVE_"
TOKEN_ENV = "VESTIS_API_TOKEN"
MIN_TOKEN_CHARS = 16
MiB = 1024 * 1024


def _f(default: Any, help: str, **bounds: Any) -> Any:
    """A field with its help text and bounds (``min``/``max``, checked by :func:`check_fields`)."""
    return field(default=default, metadata={"help": help, **bounds})


@dataclass
class ServeSettings:
    """What ``vestis serve`` and :func:`vestis.serve.create_app` run with."""

    catalog: str = _f("", "Catalog directory the service serves.")
    host: str = _f("127.0.0.1", "Address to listen on (0.0.0.0 for every interface).")
    port: int = _f(8000, "Port to listen on.", min=0, max=65535)
    workers: int = _f(1, "Server processes; each loads the models once.", min=1, max=64)
    read_only: bool = _f(False, "Serve the read endpoints only (no ingest or delete; no token needed).")
    token_file: str | None = _f(None, f"File holding the bearer token (else ${TOKEN_ENV}).")
    protect_reads: bool = _f(False, "Read endpoints need the bearer token too.")
    cors_origins: list[str] = field(
        default_factory=list, metadata={"help": "Origins allowed by CORS (none: CORS off)."}
    )
    max_upload_bytes: int = _f(16 * MiB, "Largest photo accepted, in bytes.", min=1024, max=256 * MiB)
    max_pixels: int = _f(40_000_000, "Most pixels in a photo (decompression bombs).", min=4096)
    max_photos: int = _f(8, "Most photos in one extract, search or ingest request.", min=1, max=256)
    max_json_bytes: int = _f(64 * 1024, "Largest JSON body, in bytes.", min=256, max=16 * MiB)
    max_k: int = _f(100, "Most results per page.", min=1, max=10_000)
    max_results: int = _f(1000, "Deepest result reachable by paging (offset + k).", min=1, max=10_000)
    inference_threads: int = _f(1, "Model calls run at once (each uses the torch threads).", min=1, max=64)
    max_queue: int = _f(256, "Model calls waiting before requests get 503.", min=1)
    batch_max: int = _f(16, "Most photos in one micro-batch of extract requests (1: no batching).", min=1)
    batch_wait_ms: float = _f(2.0, "How long a micro-batch waits for more requests.", min=0, max=1000)
    search_batch_max: int = _f(
        1, "Most searches in one micro-batch (1: none; see docs/serve.md for when it pays).", min=1
    )
    parsers: list[str] = field(
        default_factory=lambda: ["whole", "lite-parser"],
        metadata={"help": "Parsers an extract request may ask for."},
    )
    extractor: str | None = _f(None, "Extractor backend for /api/extract (default: the catalog's).")
    scorer: str | None = _f(None, "Outfit scorer: a model directory or name (default: the shipped one).")
    index_refresh_s: float = _f(1.0, "How often a worker looks for items other workers wrote.", min=0)
    keep_alive_s: float = _f(
        75.0,
        "How long an idle keep-alive connection stays open; longer than the clients' and proxies' "
        "own idle timeouts, so a client never reuses a connection the server is closing.",
        min=1,
        max=3600,
    )
    token: str | None = field(default=None, repr=False, compare=False, metadata={"help": "(never a setting)"})

    def public(self) -> dict[str, Any]:
        """The settings without the token (what is logged and handed to worker processes)."""
        data = dataclasses.asdict(self)
        data.pop("token")
        return data


SETTABLE = tuple(f.name for f in dataclasses.fields(ServeSettings) if f.name != "token")


def load_settings(
    config: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ServeSettings:
    """Settings from a file, then ``VESTIS_SERVE_*`` variables, then ``overrides`` (flags; None
    values are left out), checked; the token from :func:`resolve_token`."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if config is not None:
        values.update(_read_file(Path(config)))
    for name in SETTABLE:
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _env_value(name, raw)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if "token" in values:
        raise OptionsError(f"the token is not a setting: set ${TOKEN_ENV} or token_file")
    settings = ServeSettings(**check_fields(ServeSettings, values, what="serve setting"))
    settings.token = resolve_token(settings, environ)
    return settings


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise OptionsError(f"cannot read the settings file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise OptionsError(f"{path} is not valid YAML or JSON: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise OptionsError(f"{path} must hold a mapping of settings, not {type(data).__name__}")
    return data


def _env_value(name: str, raw: str) -> Any:
    hint = next(f.type for f in dataclasses.fields(ServeSettings) if f.name == name)
    if hint in ("str", "str | None"):
        return raw  # text as given (a path or an address is never re-read as YAML)
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        raise OptionsError(f"{ENV_PREFIX}{name.upper()}: cannot parse {raw!r}") from None


def resolve_token(settings: ServeSettings, environ: Mapping[str, str] | None = None) -> str | None:
    """The bearer token: the content of ``token_file`` (stripped), else ``$VESTIS_API_TOKEN``, else None.

    A token shorter than :data:`MIN_TOKEN_CHARS` is refused (a guessable secret is none).
    """
    environ = os.environ if environ is None else environ
    if settings.token_file:
        try:
            token = Path(settings.token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise OptionsError(
                f"cannot read token_file {settings.token_file}: {exc.strerror or exc}"
            ) from None
        source = f"token_file {settings.token_file}"
    else:
        token = (environ.get(TOKEN_ENV) or "").strip()
        source = f"${TOKEN_ENV}"
    if not token:
        return None
    if len(token) < MIN_TOKEN_CHARS:
        raise OptionsError(
            f"the token in {source} is {len(token)} characters; use at least {MIN_TOKEN_CHARS}"
        )
    return token


def check_startable(settings: ServeSettings) -> None:
    """Refuse what must not start: no catalog, or writable without a token."""
    if not settings.catalog:
        raise OptionsError("no catalog: pass --catalog DIR (or set catalog in the settings)")
    if not settings.read_only and not settings.token:
        raise OptionsError(
            f"refusing to start writable without a token: set ${TOKEN_ENV} or --token-file, "
            "or pass --read-only"
        )
    if settings.protect_reads and not settings.token:
        raise OptionsError(f"protect_reads needs a token: set ${TOKEN_ENV} or --token-file")
    if settings.max_results < settings.max_k:
        raise OptionsError(f"max_results ({settings.max_results}) must be at least max_k ({settings.max_k})")


def settings_json(settings: ServeSettings) -> str:
    return json.dumps(settings.public())


__all__ = [
    "ENV_PREFIX",
    "TOKEN_ENV",
    "ServeSettings",
    "check_startable",
    "load_settings",
    "resolve_token",
    "settings_json",
]
