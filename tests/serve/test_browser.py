"""The web page in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright): type a query,
apply a facet, upload a photo of a person and search by one of its garments, open an item, build and
complete an outfit. A screenshot of each step is kept under the test's tmp dir. Skips without a browser."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.serve.conftest import TOKEN, Figure, jpeg, person_photo

CHROMIUM = os.environ.get("VESTIS_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(catalog_dir):
    """The app served by uvicorn on a free local port, in a thread."""
    uvicorn = pytest.importorskip("uvicorn")
    pytest.importorskip("fastapi")
    from vestis.serve import ServeSettings, create_app

    settings = ServeSettings(
        catalog=str(catalog_dir), token=TOKEN, parsers=["whole"], scorer="cooccurrence", port=free_port()
    )
    app = create_app(settings)
    app.state.service.use_parser("test-figure", Figure())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{settings.port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def page(server):
    pytest.importorskip("playwright")
    from playwright.sync_api import sync_playwright

    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set VESTIS_CHROMIUM)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.errors = []
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.set_default_timeout(20_000)
        page.goto(server + "/")
        page.wait_for_selector("body[data-ready=true]")
        yield page
        browser.close()


def test_the_page_end_to_end(page, tmp_path):
    shots = tmp_path / "screenshots"
    shots.mkdir()

    def shot(name: str) -> None:
        page.screenshot(path=str(shots / f"{name}.png"))

    cards = page.locator("#grid .card")
    assert cards.count() == 18 and "18 items" in page.locator("#count").inner_text()
    shot("1-start")

    page.fill("#q", "red top")
    page.click("#search-form button")
    page.wait_for_selector("#status:has-text('red top')")
    assert cards.count() == 18  # 24 a page; the catalog holds 18
    shot("2-query")

    page.locator(".facet[data-field=category] label", has_text="footwear").locator("input").check()
    page.wait_for_selector("#status:has-text(\"category = 'footwear'\")")
    assert cards.count() == 6
    assert all("footwear" in t for t in page.locator("#grid .card-attrs").all_inner_texts())
    colour_counts = page.locator(".facet[data-field=colour] label").all_inner_texts()
    assert len(colour_counts) == 6 and all(t.strip().endswith("1") for t in colour_counts)  # one shoe each
    shot("3-facet")

    photo = tmp_path / "person.jpg"
    photo.write_bytes(jpeg(person_photo()))
    page.select_option("#parser", "test-figure")
    page.set_input_files("#photo", str(photo))
    page.wait_for_selector("#photo-status:has-text('2 garment')")
    boxes = page.locator("#photo-frame .box")
    assert boxes.count() == 2 and page.locator("#photo-attrs tr").count() >= 1
    shot("4-photo-of-a-person")

    page.click("#clear-filters")
    page.wait_for_selector("#status:not(:has-text('where'))")
    page.locator("#photo-frame .box", has_text="bottom").click()
    page.wait_for_selector("#status:has-text('the bottom 2 of your photo')")
    assert cards.count() >= 1
    shot("5-search-by-a-garment")

    first = cards.first
    name = first.locator(".card-title").inner_text()
    first.locator(".thumb").click()
    page.wait_for_selector("dialog#detail[open]")
    assert page.locator("#detail-title").inner_text().startswith(name.split(" ")[0])
    assert page.locator("#detail-attrs tr").count() >= 2
    assert page.locator("#detail-img").evaluate("img => img.complete && img.naturalWidth > 0")
    shot("6-item")

    page.click("#detail-similar")
    page.wait_for_selector("#status:has-text('More like')")
    page.locator("#grid .card .but").first.click()
    page.locator("#grid .card .but-form input").first.fill("in yellow")
    page.locator("#grid .card .but-form button").first.click()
    page.wait_for_selector("#status:has-text('but in yellow')")

    page.fill("#q", "")
    page.click("#search-form button")
    page.wait_for_selector("#status:has-text('18 items')")
    page.locator("#grid .card", has_text="top").first.locator(".add").click()
    page.locator("#grid .card", has_text="bottom").first.locator(".add").click()
    assert page.locator("#outfit-items li").count() == 2
    page.click("#outfit-score")
    page.wait_for_selector("#outfit-result:has-text('Score')")
    page.click("#outfit-complete")
    page.wait_for_selector("#suggestions .suggestion")
    slots = [t.lower() for t in page.locator("#suggestions h3").all_inner_texts()]
    assert slots == ["footwear"]  # a top and a bottom lack shoes (the catalog has no bag or coat)
    shot("7-outfit")
    page.locator("#suggestions .suggestion").first.click()
    assert page.locator("#outfit-items li").count() == 3
    page.wait_for_selector("#outfit-result:has-text('Nothing in the catalog completes')")  # asked again

    assert not page.errors, page.errors  # no script error, no CSP violation, no failed request
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-start.png",
        "2-query.png",
        "3-facet.png",
        "4-photo-of-a-person.png",
        "5-search-by-a-garment.png",
        "6-item.png",
        "7-outfit.png",
    ]
