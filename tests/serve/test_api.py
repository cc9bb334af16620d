"""Every endpoint of the service through FastAPI's TestClient, on a small real catalog."""

from __future__ import annotations

from tests.serve.conftest import AUTH, ITEMS, jpeg, person_photo


def ids_of(page: dict) -> list[int]:
    return [h["id"] for h in page["hits"]]


def test_health_ready_and_metrics(make_client):
    client = make_client()
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "items": len(ITEMS)}
    client.get("/api/search", params={"q": "red top"})
    client.get("/api/items/999999")
    text = client.get("/metrics").text
    assert 'vestis_requests_total{method="GET",route="/api/search",status="200"} 1' in text
    assert 'vestis_requests_total{method="GET",route="/api/items/{item_id}",status="404"} 1' in text
    assert 'vestis_request_seconds_count{method="GET",route="/api/search"} 1' in text
    assert f"vestis_catalog_items {len(ITEMS)}" in text


def test_info_and_the_openapi_document_carry_the_attribute_schema(client):
    info = client.get("/api/info").json()
    assert info["schema_name"] == "vestis" and info["items"] == len(ITEMS)
    assert "category" in info["facet_fields"] and info["category_field"] == "category"
    assert info["parsers"] == ["whole", "test-figure"] and info["read_only"] is False
    schema = client.get("/api/schema").json()
    assert schema["title"] == "vestis:vestis" and "red" in str(schema["properties"]["colour"])
    components = client.get("/openapi.json").json()["components"]["schemas"]
    attributes = components["VestisAttributes"]
    assert attributes["additionalProperties"] is False
    assert "navy" in str(attributes["properties"]["colour"])


def test_text_search_pages_and_filters(client):
    first = client.get("/api/search", params={"q": "red top", "k": 5}).json()
    assert len(first["hits"]) == 5 and first["next_offset"] == 5 and first["total"] is None
    assert first["hits"][0]["thumbnail"] == f"/api/items/{first['hits'][0]['id']}/thumbnail"
    second = client.get("/api/search", params={"q": "red top", "k": 5, "offset": 5}).json()
    assert not set(ids_of(first)) & set(ids_of(second))
    whole = client.get("/api/search", params={"q": "red top", "k": 10}).json()
    assert ids_of(whole) == ids_of(first) + ids_of(second)  # pages cut one ranking
    shoes = client.get("/api/search", params={"q": "shoes", "where": "category = footwear", "k": 50}).json()
    assert len(shoes["hits"]) == 6 and {h["attributes"]["category"] for h in shoes["hits"]} == {"footwear"}
    assert shoes["next_offset"] is None


def test_a_listing_without_text_counts_and_pages(client):
    page = client.get("/api/search", params={"where": "colour = red", "k": 2}).json()
    assert page["total"] == 3 and len(page["hits"]) == 2 and page["next_offset"] == 2
    last = client.get("/api/search", params={"where": "colour = red", "k": 2, "offset": 2}).json()
    assert len(last["hits"]) == 1 and last["next_offset"] is None
    everything = client.get("/api/search", params={"k": 100}).json()
    assert everything["total"] == len(ITEMS) == len(everything["hits"])


def test_search_by_photo_and_by_photo_with_a_modification(client, photo_bytes):
    files = {"photo": ("q.jpg", photo_bytes, "image/jpeg")}
    page = client.post("/api/search/image", files=files, params={"k": 3}).json()
    assert page["hits"][0]["attributes"] == {
        **page["hits"][0]["attributes"],
        "category": "top",
        "colour": "red",
    }
    modified = client.post("/api/search/image", files=files, data={"modify": "but in black"}, params={"k": 3})
    assert modified.status_code == 200 and ids_of(modified.json()) != ids_of(page)


def test_more_like_this_leaves_the_item_out_and_but_in_changes_the_ranking(client):
    like = client.get("/api/items/1/similar", params={"k": 5}).json()
    assert len(like["hits"]) == 5 and 1 not in ids_of(like)
    but = client.get("/api/items/1/similar", params={"k": 5, "modify": "in yellow"}).json()
    assert 1 not in ids_of(but) and ids_of(but) != ids_of(like)
    filtered = client.get("/api/items/1/similar", params={"where": "category = bottom", "k": 50}).json()
    assert {h["attributes"]["category"] for h in filtered["hits"]} == {"bottom"}


def test_item_details_thumbnail_and_photo(client):
    item = client.get("/api/items/2").json()
    assert item["id"] == 2 and item["name"] == "navy-top.jpg"
    assert item["attributes"]["colour"] == "navy" and item["confidence"]["colour"] == 1.0
    thumb = client.get(item["thumbnail"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:3] == b"\xff\xd8\xff"
    photo = client.get(item["image"])
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"


def test_facets_count_the_items_matching_the_filter(client):
    data = client.get("/api/facets").json()
    assert data["total"] == len(ITEMS)
    assert {f["value"]: f["count"] for f in data["facets"]["category"]} == {
        "top": 6,
        "bottom": 6,
        "footwear": 6,
    }
    red = client.get("/api/facets", params={"where": "colour = red", "field": ["category", "colour"]}).json()
    assert red["total"] == 3 and set(red["facets"]) == {"category", "colour"}
    assert red["facets"]["colour"] == [{"value": "red", "count": 3}]
    assert len(client.get("/api/facets", params={"limit": 1}).json()["facets"]["colour"]) == 1


def test_extract_a_product_shot_and_several_photos_of_one_item(client, photo_bytes):
    one = client.post("/api/extract", files=[("photos", ("a.jpg", photo_bytes, "image/jpeg"))]).json()
    assert one["attributes"]["colour"] == "red" and one["kind"] == "product" and one["photos"] == 1
    assert len(one["items"]) == 1 and one["items"][0]["box"] == [0, 0, *one["image_size"]]
    two = client.post(
        "/api/extract",
        files=[
            ("photos", ("front.jpg", photo_bytes, "image/jpeg")),
            ("photos", ("b.jpg", photo_bytes, "image/jpeg")),
        ],
    ).json()
    assert two["photos"] == 2 and two["attributes"]["colour"] == "red" and two["items"] is None


def test_extract_a_photo_of_a_person_returns_each_garment(client):
    files = [("photos", ("person.jpg", jpeg(person_photo()), "image/jpeg"))]
    res = client.post("/api/extract", params={"parser": "test-figure"}, files=files).json()
    assert res["kind"] == "person" and res["image_size"] == [100, 200]
    assert [i["box"] for i in res["items"]] == [[20, 30, 80, 100], [30, 100, 70, 190]]
    assert [i["class"] for i in res["items"]] == ["top", "bottom"]
    assert [i["attributes"]["colour"] for i in res["items"]] == ["red", "navy"]


def test_outfit_score_complete_and_complement(client):
    top, bottom = 1, 7  # red top, red bottom
    score = client.post("/api/outfits/score", json={"items": [top, bottom]}).json()
    assert score["ids"] == [top, bottom] and score["weakest_pair"]["items"] == [top, bottom]
    assert isinstance(score["score"], float) and score["scorer"]
    done = client.post("/api/outfits/complete", json={"items": [top, bottom], "k": 2}).json()
    assert "footwear" in done["slots"] and "top" not in done["slots"]
    shoes = done["slots"]["footwear"]
    assert len(shoes) == 2 and all(s["attributes"]["category"] == "footwear" for s in shoes)
    named = client.post("/api/outfits/complete", json={"items": [top], "slots": ["shoes"], "k": 1}).json()
    assert list(named["slots"]) == ["footwear"]
    filtered = client.post(
        "/api/outfits/complete", json={"items": [top], "slots": ["footwear"], "where": "colour = black"}
    ).json()
    assert [s["attributes"]["colour"] for s in filtered["slots"]["footwear"]] == ["black"]
    goes = client.post("/api/outfits/complement", json={"item": top, "k": 1}).json()
    assert {"bottom", "footwear"} <= set(goes["slots"])


def test_ingest_and_delete_through_the_api(make_client, catalog_dir):
    client = make_client()
    new = jpeg(person_photo())
    r = client.post(
        "/api/items",
        headers=AUTH,
        files=[
            ("photos", ("../../evil name.jpg", new, "image/jpeg")),
            ("photos", ("dup.jpg", new, "image/jpeg")),
        ],
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["added"] == 1 and body["duplicates"] == 1 and body["items"] == len(ITEMS) + 1
    (new_id,) = body["ids"]
    item = client.get(f"/api/items/{new_id}").json()
    assert item["name"].endswith("-evil_name.jpg") and "/" not in item["name"]  # the server names files
    stored = list((catalog_dir / "uploads").glob("*/*-evil_name.jpg"))
    assert len(stored) == 1 and stored[0].resolve().is_relative_to(catalog_dir.resolve())
    assert client.get("/api/items/1/similar", params={"k": 100}).json()["hits"]  # the index took it
    assert new_id in ids_of(client.get("/api/search", params={"k": 100}).json())
    again = client.post("/api/items", headers=AUTH, files=[("photos", ("x.jpg", new, "image/jpeg"))]).json()
    assert again["added"] == 0 and again["duplicates"] == 1
    gone = client.delete(f"/api/items/{new_id}", headers=AUTH)
    assert gone.json() == {"removed": 1}
    assert client.get(f"/api/items/{new_id}").status_code == 404
    assert client.delete(f"/api/items/{new_id}", headers=AUTH).status_code == 404
    assert new_id not in ids_of(client.get("/api/items/1/similar", params={"k": 100}).json())


def test_the_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
