"""The page at GET /, used as a person would: Debian's Chromium driven by Playwright, a real server.

The server serves the ported MSD_musicnn behind an API key; the song is an excerpt of a real recording
(Debian's asc-music). Screenshots are saved under `$PAGE_SCREENSHOTS` (default: each test's tmp_path).
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from support.audio_files import make_audio
from support.browser import launch_chromium
from support.debian_music import debian_music
from support.server_process import REPO, ServerProcess
from support.service_helpers import API_KEY

pytestmark = pytest.mark.slow

MODEL = "MSD_musicnn"
TOP_K = 10  # what the page asks POST /tag for
PHONE: ViewportSize = {"width": 375, "height": 812}
DESKTOP: ViewportSize = {"width": 1024, "height": 900}
BLOCKING_IMPACTS = {"serious", "critical"}
MAX_UPLOAD_MB = 2  # the song is about 0.5 MB


def start_server(directory: Path, **settings: str) -> ServerProcess:
    """MSD_musicnn alone (a folder holding a link to the ported model), with `settings` on top."""
    models = directory / "models"
    models.mkdir()
    (models / MODEL).symlink_to((REPO / "saved_models" / MODEL).resolve())
    defaults = {
        "TAGGER_MODELS_DIR": str(models),
        "TAGGER_DEFAULT_MODEL": MODEL,
        "TAGGER_DB": str(directory / "tagger.db"),
        "TAGGER_TF_INTRA_OP_THREADS": "1",
    }
    return ServerProcess({**defaults, **settings}, directory / "server.log").start()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Behind an API key, with a small upload limit."""
    process = start_server(
        tmp_path_factory.mktemp("page_server"),
        TAGGER_API_KEY=API_KEY,
        TAGGER_MAX_UPLOAD_MB=str(MAX_UPLOAD_MB),
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def busy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Open (no key), and too busy for anything: every song takes longer than its 1 ms deadline (503)."""
    process = start_server(tmp_path_factory.mktemp("busy_server"), TAGGER_REQUEST_TIMEOUT_S="0.001")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 s of a real recording, re-encoded as a typical upload (MP3, 44.1 kHz stereo)."""
    target = tmp_path_factory.mktemp("page_song") / "frontiers.mp3"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-ss", "60", "-t", "30", "-i", str(debian_music()[0])]
        + ["-ar", "44100", "-ac", "2", "-c:a", "libmp3lame", str(target)],
        check=True,
    )
    return target


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def requested() -> list[str]:
    """Every URL the page requested, in order."""
    return []


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def page(
    request: pytest.FixtureRequest, browser: Browser, server: ServerProcess, requested: list[str]
) -> Iterator[Page]:
    context = browser.new_context(viewport=request.param)
    tab = context.new_page()
    tab.on("request", lambda sent: requested.append(sent.url))
    tab.goto(f"{server.base_url}/")
    yield tab
    context.close()


@pytest.fixture
def screenshots(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    root = os.environ.get("PAGE_SCREENSHOTS")
    directory = Path(root) / request.node.name if root else tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def api(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers={"X-API-Key": API_KEY}, timeout=120)


def enter_key(page: Page) -> None:
    """The page learns from a 401 that a key is needed, asks for it (focus on the field), lists models."""
    key = page.get_by_label("API key")
    expect(key).to_be_visible()
    expect(key).to_be_focused()
    expect(page.get_by_role("alert")).to_contain_text("needs an API key")
    key.fill(API_KEY)
    key.press("Tab")
    expect(page.get_by_label("Model")).not_to_have_value("")
    expect(page.get_by_role("alert")).to_be_empty()


def tag(page: Page, path: Path) -> None:
    page.get_by_label("Audio file").set_input_files(path)
    page.get_by_role("button", name="Tag this song").click()


def drop(page: Page, path: Path) -> None:
    """Drop `path` on the page as a person drags it from a file manager (a DataTransfer with one File)."""
    transfer = page.evaluate_handle(
        """([name, base64]) => {
            const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name));
            return transfer;
        }""",
        [path.name, base64.b64encode(path.read_bytes()).decode()],
    )
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})


def shown_top_tags(page: Page) -> list[tuple[str, str]]:
    rows = page.locator("#top-tags li")
    return list(
        zip(rows.locator(".tag").all_inner_texts(), rows.locator(".score").all_inner_texts(), strict=True)
    )


def blocking_violations(page: Page) -> list[str]:
    """axe-core (bundled by axe-playwright-python, injected from disk) run in this browser."""
    violations = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}): {v['help']}" for v in violations if v["impact"] in BLOCKING_IMPACTS]


def test_the_page_is_open_and_self_contained(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as anonymous:
        page = anonymous.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        for asset, kind in (("/static/page.js", "javascript"), ("/static/page.css", "text/css")):
            response = anonymous.get(asset)
            assert response.status_code == 200 and kind in response.headers["content-type"]
        assert anonymous.get("/static/..%2F..%2Fetc%2Fpasswd").status_code == 404
        assert anonymous.get("/models").status_code == 401


def test_a_real_recording_shows_the_api_top_tags_and_its_taggram(
    page: Page, server: ServerProcess, song: Path, requested: list[str], screenshots: Path
) -> None:
    enter_key(page)
    expect(page.get_by_label("Model")).to_have_value(MODEL)
    tag(page, song)

    expect(page.locator("#top-tags li")).to_have_count(TOP_K, timeout=120_000)
    with api(server) as http, song.open("rb") as file:
        expected = http.post("/tag", params={"top_k": TOP_K}, files={"file": (song.name, file)}).json()
    assert shown_top_tags(page) == [(top["tag"], f"{top['score']:.3f}") for top in expected["top"]]
    expect(page.locator("#summary")).to_contain_text(expected["id"])
    expect(page.locator("#summary")).to_contain_text(f"{expected['n_windows']} of")
    expect(page.locator("#result-heading")).to_be_focused()
    assert page.locator("#upload-progress").evaluate("bar => bar.value") == 1

    # The taggram: drawn (many colours on the canvas) and told in words, one line per top tag, in order.
    expect(page.locator("#taggram-text li")).to_have_count(TOP_K)
    lines = page.locator("#taggram-text li").all_text_contents()
    assert [line.split(":")[0] for line in lines] == [top["tag"] for top in expected["top"]]
    colours = page.locator("#taggram").evaluate(
        """canvas => {
            const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            const seen = new Set();
            for (let i = 0; i < pixels.length; i += 4) seen.add(pixels.slice(i, i + 4).join());
            return seen.size;
        }"""
    )
    assert colours > 50
    canvas_height = page.locator("#taggram").evaluate("canvas => canvas.height")
    expect(page.locator("#taggram")).to_have_attribute(
        "aria-label", f"Taggram: {TOP_K} tags over {expected['n_windows']} windows"
    )
    page.get_by_label("Show all tags").check()
    expect(page.locator("#taggram-text li")).to_have_count(len(expected["tags"]))
    assert page.locator("#taggram").evaluate("canvas => canvas.height") > 4 * canvas_height
    # No similarity search on this server yet (404): the section stays hidden and no error shows.
    expect(page.locator("#similar")).to_be_hidden()
    expect(page.get_by_role("alert")).to_be_empty()

    viewport = page.viewport_size
    assert viewport and page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], (
        "the page scrolls sideways"
    )
    assert all(url.startswith(server.base_url) for url in requested), requested
    assert any("/similar/" in url for url in requested)
    page.screenshot(path=screenshots / "tagged.png", full_page=True)


def text_file(directory: Path) -> Path:
    notes = directory / "notes.txt"
    notes.write_text("These are not the sounds you are looking for.\n" * 20)
    return notes


def wav_over_the_limit(directory: Path) -> Path:
    return make_audio(directory / "long.wav", seconds=20, sample_rate=44_100, channels=2)  # 3.4 MB


@pytest.mark.parametrize(
    ("make_file", "status", "words"),
    [
        pytest.param(text_file, 415, "Not audio", id="not-audio"),
        pytest.param(wav_over_the_limit, 413, "Too large or too long", id="too-large"),
    ],
)
def test_a_refused_file_is_explained_in_words(
    page: Page,
    server: ServerProcess,
    tmp_path: Path,
    screenshots: Path,
    make_file: Callable[[Path], Path],
    status: int,
    words: str,
) -> None:
    refused_file = make_file(tmp_path)
    enter_key(page)
    tag(page, refused_file)

    with api(server) as http, refused_file.open("rb") as file:
        refused = http.post("/tag", files={"file": (refused_file.name, file)})
    assert refused.status_code == status
    expect(page.get_by_role("alert")).to_have_text(f"{words}: {refused.json()['detail']}")
    expect(page.locator("#result")).to_be_hidden()
    expect(page.get_by_role("button", name="Tag this song")).to_be_focused()  # ready for another try
    page.screenshot(path=screenshots / f"refused-{status}.png", full_page=True)


def test_the_keyboard_alone_tags_a_song(page: Page, song: Path) -> None:
    enter_key(page)  # the key field has focus; Tab moved on to the model picker
    expect(page.get_by_label("Model")).to_be_focused()
    # Waiting for the chooser from here on: Playwright must be intercepting it before Space opens it.
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Tab")
        expect(page.get_by_label("Audio file")).to_be_focused()
        page.keyboard.press("Space")
    chooser.value.set_files(song)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Tag this song")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#result-heading")).to_be_focused(timeout=120_000)
    expect(page.get_by_role("status")).to_contain_text("Tagged 30.0 s of audio")


def test_a_dropped_file_is_tagged(page: Page, song: Path) -> None:
    enter_key(page)
    drop(page, song)
    expect(page.locator("#top-tags li")).to_have_count(TOP_K, timeout=120_000)
    assert page.locator("#file").evaluate("input => input.files[0].name") == song.name


def test_no_serious_accessibility_violations(page: Page, song: Path) -> None:
    expect(page.get_by_label("API key")).to_be_visible()
    assert blocking_violations(page) == []
    enter_key(page)
    tag(page, song)
    expect(page.locator("#taggram-text li")).to_have_count(TOP_K, timeout=120_000)
    page.locator("details summary").click()
    assert blocking_violations(page) == []


def test_an_open_server_asks_for_no_key_and_busy_is_said_in_words(
    browser: Browser, busy_server: ServerProcess, song: Path, screenshots: Path
) -> None:
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{busy_server.base_url}/")
    expect(page.get_by_label("Model")).to_have_value(MODEL)
    expect(page.get_by_label("API key")).to_be_hidden()
    tag(page, song)

    with httpx.Client(base_url=busy_server.base_url, timeout=120) as http, song.open("rb") as file:
        busy = http.post("/tag", files={"file": (song.name, file)})
    assert busy.status_code == 503
    expect(page.get_by_role("alert")).to_have_text(
        f"The server is busy ({busy.json()['detail']}): try again in {busy.headers['retry-after']} seconds."
    )
    page.screenshot(path=screenshots / "busy.png", full_page=True)
    context.close()
