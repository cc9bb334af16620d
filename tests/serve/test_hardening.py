"""Bad input gets a 4xx with one clear line, never a 500: limits, types, ids, filters, tokens, CORS."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.serve.conftest import AUTH, TOKEN, jpeg

PNG_1PX = b"\x89PNG\r\n\x1a\n"  # a PNG signature, nothing after it
JSON = {"content-type": "application/json"}


def png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, format="PNG")
    return buf.getvalue()


def photo(data: bytes, name: str = "p.jpg", kind: str = "image/jpeg"):
    return [("photos", (name, data, kind))]


def problem(response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail
    return detail


BAD_READS = [
    ("get", "/api/search", {"params": {"k": 0}}, 422, "k"),
    ("get", "/api/search", {"params": {"k": 101}}, 422, "less than or equal to 100"),
    ("get", "/api/search", {"params": {"k": "ten"}}, 422, "valid integer"),
    ("get", "/api/search", {"params": {"offset": -1}}, 422, "offset"),
    ("get", "/api/search", {"params": {"q": "x", "offset": 990, "k": 20}}, 400, "deepest result"),
    ("get", "/api/search", {"params": {"q": "x" * 501}}, 422, "at most 500"),
    ("get", "/api/search", {"params": {"where": "colour = = red"}}, 400, "colour"),
    ("get", "/api/search", {"params": {"where": "colur = red"}}, 400, "colour"),
    ("get", "/api/search", {"params": {"where": "colour = mauveish"}}, 400, "mauveish"),
    ("get", "/api/search", {"params": {"where": "(" * 30 + "colour = red" + ")" * 30}}, 400, "nest"),
    ("get", "/api/search", {"params": {"where": "x" * 2001}}, 422, "at most 2000"),
    ("get", "/api/facets", {"params": {"field": "no_such_field"}}, 400, "unknown field"),
    ("get", "/api/facets", {"params": {"limit": 0}}, 422, "limit"),
    ("get", "/api/items/0", {}, 422, "item_id"),
    ("get", "/api/items/-3", {}, 422, "item_id"),
    ("get", f"/api/items/{2**70}", {}, 422, "item_id"),
    ("get", "/api/items/abc", {}, 422, "item_id"),
    ("get", "/api/items/999999", {}, 404, "no item 999999"),
    ("get", "/api/items/999999/thumbnail", {}, 404, "no item"),
    ("get", "/api/items/999999/image", {}, 404, "no item"),
    ("get", "/api/items/999999/similar", {}, 404, "no item"),
    ("get", "/api/items/1/similar", {"params": {"modify": "m" * 501}}, 422, "modify"),
    ("post", "/api/outfits/score", {"json": {"items": [1]}}, 422, "at least 2"),
    ("post", "/api/outfits/score", {"json": {"items": [1, 999999]}}, 400, "999999"),
    ("post", "/api/outfits/score", {"json": {"items": [1, 2], "extra": 1}}, 422, "extra"),
    ("post", "/api/outfits/score", {"json": {"items": "1,2"}}, 422, "items"),
    ("post", "/api/outfits/score", {"json": {"items": [1, 2**64]}}, 422, "items"),
    (
        "post",
        "/api/outfits/score",
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
        422,
        "JSON",
    ),
    ("post", "/api/outfits/score", {"data": {"items": "1"}}, 422, "dictionary"),
    (
        "post",
        "/api/outfits/score",
        {"content": b"[" * 30_000 + b"]" * 30_000, "headers": JSON},
        400,
        "parsing",
    ),
    ("post", "/api/outfits/score", {"content": b'{"items": [1e400, 2]}', "headers": JSON}, 422, "finite"),
    ("post", "/api/outfits/complete", {"json": {"items": [1], "slots": ["spaceship"]}}, 400, "unknown slot"),
    ("post", "/api/outfits/complete", {"json": {"items": [1], "diversity": 2}}, 422, "diversity"),
    ("post", "/api/outfits/complete", {"json": {"items": [1], "k": 10_000}}, 422, "k"),
    ("post", "/api/outfits/complete", {"json": {"items": [1], "where": "colour ="}}, 400, "colour"),
    ("post", "/api/outfits/complement", {"json": {"item": 999999}}, 400, "999999"),
    ("post", "/api/outfits/complement", {"json": {}}, 422, "item"),
    ("get", "/static/../catalog.sqlite", {}, 404, ""),
    ("get", "/static/%2e%2e/%2e%2e/catalog.sqlite", {}, 404, ""),
    ("get", "/static/..%2f..%2fcatalog.json", {}, 404, ""),
    ("get", "/api/items/..%2fcatalog.sqlite", {}, 404, ""),
    ("delete", "/api/items/1", {}, 401, "bearer token"),
    ("post", "/api/items", {"files": photo(b"x")}, 401, "bearer token"),
    ("delete", "/api/items/1", {"headers": {"Authorization": "Bearer wrong-token-0123456789"}}, 401, "wrong"),
    ("delete", "/api/items/1", {"headers": {"Authorization": f"Basic {TOKEN}"}}, 401, "bearer"),
]


@pytest.mark.parametrize(("method", "url", "kwargs", "status", "says"), BAD_READS, ids=lambda v: str(v)[:40])
def test_bad_requests_get_a_clear_4xx(client, method, url, kwargs, status, says):
    detail = problem(getattr(client, method)(url, **kwargs), status)
    assert says.lower() in detail.lower()


def test_unauthorised_writes_say_how_to_authenticate(client):
    r = client.delete("/api/items/1")
    assert (
        r.headers["www-authenticate"].startswith("Bearer") and client.get("/api/items/1").status_code == 200
    )


BAD_PHOTOS = [
    (b"", 400, "empty"),
    (b"hello, I am text", 415, "not a JPEG"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", 415, "not a JPEG"),
    (b"<html><script>alert(1)</script></html>", 415, "not a JPEG"),
    (PNG_1PX, 400, ""),
    (b"\xff\xd8\xff\xe0 cut short", 400, ""),
]


@pytest.mark.parametrize(("data", "status", "says"), BAD_PHOTOS, ids=lambda v: repr(v)[:24])
@pytest.mark.parametrize("route", ["/api/extract", "/api/search/image", "/api/items"])
def test_bad_photos_are_refused_on_every_upload_route(client, route, data, status, says):
    field = "photo" if route == "/api/search/image" else "photos"
    r = client.post(route, files=[(field, ("p.jpg", data, "image/jpeg"))], headers=AUTH)
    assert says.lower() in problem(r, status).lower()


def test_the_type_is_judged_by_the_bytes_not_the_name_or_header(client):
    r = client.post("/api/extract", files=photo(png((40, 60)), name="notes.txt", kind="text/plain"))
    assert r.status_code == 200 and r.json()["image_size"] == [40, 60]


def test_size_pixel_and_count_limits(make_client):
    client = make_client(max_upload_bytes=4096, max_pixels=10_000, max_photos=2)
    big = jpeg(Image.effect_noise((200, 200), 64).convert("RGB"))
    assert len(big) > 4096
    assert "limit" in problem(client.post("/api/extract", files=photo(big)), 413)
    assert "pixels" in problem(client.post("/api/extract", files=photo(png((120, 120)))), 413)
    three = photo(png((10, 10))) * 3
    assert "too many files" in problem(client.post("/api/extract", files=three), 400).lower()
    assert client.post("/api/extract", files=photo(png((60, 60)))).status_code == 200


def test_a_decompression_bomb_is_refused_before_it_is_decoded(client):
    bomb = png((12_000, 12_000), mode="1")  # 144 M pixels in a few kilobytes
    assert len(bomb) < 64_000
    assert "pixels" in problem(client.post("/api/extract", files=photo(bomb)), 413)


def test_bodies_over_their_limit(make_client):
    client = make_client(max_json_bytes=1024, max_upload_bytes=4096, max_photos=1)
    padded = {"items": [1, 2], "pad": "x" * 2000}
    assert "limit here is 1024 bytes" in problem(client.post("/api/outfits/score", json=padded), 413)
    huge = b"\xff\xd8\xff" + b"\0" * 200_000
    assert "too large" in problem(client.post("/api/extract", files=photo(huge)), 413)

    def chunks():  # no Content-Length: the body is cut off while it streams
        yield b'{"items": [1, 2], "pad": "'
        for _ in range(64):
            yield b"x" * 64
        yield b'"}'

    r = client.post("/api/outfits/score", content=chunks(), headers={"content-type": "application/json"})
    assert problem(r, 413)


def test_a_url_is_never_fetched(client):
    r = client.post("/api/search/image", data={"photo": "http://127.0.0.1:9/secret.jpg"})
    assert "photo" in problem(r, 422)


def test_read_only_has_no_write_routes_and_needs_no_token(make_client):
    client = make_client(read_only=True, token=None)
    assert client.post("/api/items", files=photo(png((10, 10)))).status_code in (404, 405)
    assert client.delete("/api/items/1").status_code in (404, 405)
    assert client.get("/api/items/1").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/items" not in paths and "delete" not in paths["/api/items/{item_id}"]


def test_protected_reads_need_the_token(make_client):
    client = make_client(protect_reads=True)
    assert problem(client.get("/api/search"), 401)
    assert client.get("/api/search", headers=AUTH).status_code == 200
    assert client.get("/health").status_code == 200 and client.get("/").status_code == 200


def test_cors_is_off_unless_configured(make_client):
    origin = {"Origin": "https://shop.example"}
    closed = make_client()
    assert "access-control-allow-origin" not in closed.get("/api/info", headers=origin).headers
    opened = make_client(cors_origins=["https://shop.example"])
    assert (
        opened.get("/api/info", headers=origin).headers["access-control-allow-origin"]
        == "https://shop.example"
    )
    other = opened.get("/api/info", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_security_headers(client):
    headers = client.get("/api/info").headers
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
