"""Files in a real Chromium: previews of a table, an image, text and a sound without pulling
the version, byte ranges for players, folders downloaded as archives, and two versions
compared; against ``deltaset ui`` and ``deltaset server``."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import LocalUi, TeamUi, screenshot
from tests.ui.make_catalog import EVIL
from tests.ui.make_files import MARKUP, TABLE_ROWS, wav
from tests.ui.test_local_ui import LABEL
from tests.ui.test_server_ui import sign_in

CONTROLS = "main :is(button, input:not([type=hidden]), select, audio, video)"
_signed_in: list[dict[str, object]] = []


@pytest.fixture(scope="module")
def catalog_scripts() -> list[str]:
    return ["tests.ui.make_catalog", "tests.ui.make_files"]


def signed_in(page: Page, ui: LocalUi) -> Page:
    """``page`` with the session of the browser that used this module's one-time link."""
    if not _signed_in:
        page.goto(ui.url)
        _signed_in.append(dict(page.context.storage_state()))
    else:
        page.context.add_cookies(_signed_in[0]["cookies"])  # type: ignore[arg-type]
    return page


def file_url(base: str, version_id: str, path: str, route: str = "file") -> str:
    return f"{base}/versions/{version_id}/{route}?path={path}"


def natural_width(page: Page, selector: str) -> int:
    image = page.locator(selector)
    expect(image).to_be_visible()
    width: int = image.evaluate("e => e.decode().then(() => e.naturalWidth)")
    return width


def test_a_csv_previews_as_typed_rows_a_page_at_a_time(
    local_ui: LocalUi, page: Page, tmp_path: Path
) -> None:
    signed_in(page, local_ui).goto(f"{local_ui.base}/versions/{local_ui.ids['g1']}")
    page.get_by_role("link", name="table.csv").click()  # from the content browser
    expect(page.get_by_role("heading", name="table.csv")).to_be_visible()
    rows = page.locator("table.rows tbody tr")
    expect(rows).to_have_count(50)
    headers = page.locator("table.rows thead th").all_inner_texts()
    assert [h.split() for h in headers[1:]] == [["id", "int64"], ["name", "string"]]
    expect(rows.first.locator("td").nth(2)).to_have_text("item-0")
    screenshot(page, "file-table", tmp_path)
    page.get_by_role("link", name="Next rows").click()
    page.get_by_role("link", name="Next rows").click()
    expect(rows).to_have_count(TABLE_ROWS - 100)
    expect(rows.first.locator("td").nth(2)).to_have_text("item-100")
    expect(page.get_by_role("link", name="Next rows")).to_have_count(0)


def test_an_image_previews_decoded(local_ui: LocalUi, page: Page, tmp_path: Path) -> None:
    signed_in(page, local_ui).goto(file_url(local_ui.base, local_ui.ids["g1"], "images/red.png"))
    assert natural_width(page, "img.preview") == 40
    screenshot(page, "file-image", tmp_path)


def test_text_shows_its_markup_escaped(local_ui: LocalUi, page: Page) -> None:
    signed_in(page, local_ui).goto(file_url(local_ui.base, local_ui.ids["g1"], "notes.md"))
    expect(page.locator("pre.text-preview")).to_have_text(MARKUP)
    assert page.locator("main script, main b").count() == 0
    page.goto(file_url(local_ui.base, local_ui.ids["g1"], "page.html"))
    expect(page.locator("pre.text-preview")).to_have_text("<img src=x onerror=alert(1)>")
    assert page.locator("main img").count() == 0


def test_raw_bytes_answer_ranges_and_never_run_as_a_page(local_ui: LocalUi, page: Page) -> None:
    signed_in(page, local_ui).goto(file_url(local_ui.base, local_ui.ids["g1"], "sounds/beep.wav"))
    expect(page.locator("audio.preview")).to_have_attribute("controls", "")
    sound = wav()
    raw = file_url(local_ui.base, local_ui.ids["g1"], "sounds/beep.wav", "raw")
    part = page.request.get(raw, headers={"Range": "bytes=100-199"})
    assert part.status == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(sound)}"
    assert part.body() == sound[100:200]
    assert part.headers["content-type"] == "audio/wav"
    tail = page.request.get(raw, headers={"Range": "bytes=-10"})
    assert (tail.status, tail.body()) == (206, sound[-10:])
    whole = page.request.get(raw)
    assert (whole.status, whole.body()) == (200, sound)
    outside = page.request.get(raw, headers={"Range": f"bytes={len(sound)}-"})
    assert outside.status == 416
    assert outside.headers["content-range"] == f"bytes */{len(sound)}"
    html = page.request.get(file_url(local_ui.base, local_ui.ids["g1"], "page.html", "raw"))
    assert html.headers["content-type"] == "text/plain; charset=utf-8"
    assert html.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in html.headers["content-security-policy"]
    download = page.request.get(raw + "&download=1")
    assert download.headers["content-disposition"].startswith('attachment; filename="beep.wav"')


def test_raw_routes_refuse_path_traversal(local_ui: LocalUi, page: Page) -> None:
    signed_in(page, local_ui)
    g1 = local_ui.ids["g1"]
    for url in (
        file_url(local_ui.base, g1, "../../etc/passwd", "raw"),
        file_url(local_ui.base, g1, "data/..%2F..%2Fetc%2Fpasswd", "raw"),
        file_url(local_ui.base, g1, "/etc/passwd", "file"),
        f"{local_ui.base}/versions/{g1}/archive?folder=../..",
    ):
        response = page.request.get(url)
        assert response.status == 400, url
        assert "passwd" not in response.text() or "not" in response.text()


def test_a_folder_downloads_as_a_tar_and_a_zip(local_ui: LocalUi, page: Page) -> None:
    signed_in(page, local_ui).goto(f"{local_ui.base}/versions/{local_ui.ids['g1']}")
    page.get_by_role("link", name="data/").click()
    with page.expect_download() as tar_download:
        page.get_by_role("link", name="tar", exact=True).click()
    assert tar_download.value.suggested_filename.endswith("-data.tar")
    with tarfile.open(tar_download.value.path()) as archive:
        members = {m.name: archive.extractfile(m).read() for m in archive if m.isfile()}  # type: ignore[union-attr]
    assert members == {"a.txt": b"alpha\n", "deep/b.txt": b"beta\n"}
    with page.expect_download() as zip_download:
        page.get_by_role("link", name="zip", exact=True).click()
    with zipfile.ZipFile(io.BytesIO(Path(zip_download.value.path()).read_bytes())) as archive:
        assert {n: archive.read(n) for n in archive.namelist()} == members


def test_two_versions_compare_with_a_diff_a_schema_and_images(
    local_ui: LocalUi, page: Page, tmp_path: Path
) -> None:
    signed_in(page, local_ui).goto(f"{local_ui.base}/dataset?project=media&name=gallery")
    page.get_by_role("button", name="Compare").click()  # the parent with the latest
    assert f"source={local_ui.ids['g1']}" in page.url
    assert f"target={local_ui.ids['g2']}" in page.url
    expect(page.locator(".counts")).to_have_text("1 added, 3 modified, 1 removed")
    page.get_by_role("link", name="notes.md").click()
    diff = page.get_by_label("Unified diff of notes.md")
    expect(diff).to_contain_text("+A line added in the second version.")
    expect(diff.locator("span.add")).to_have_count(1)  # the +++ line is a header, not an addition
    screenshot(page, "compare", tmp_path)
    page.get_by_role("link", name="table.csv").click()
    shape = page.locator("table.shape")
    expect(shape.locator("tr", has_text="Rows")).to_contain_text(f"{TABLE_ROWS}")
    expect(shape.locator("tr", has_text="Rows")).to_contain_text(f"{TABLE_ROWS + 5}")
    expect(page.locator(".schema-change")).to_have_text("column score added")
    page.get_by_role("link", name="images/red.png").click()
    assert natural_width(page, ".side-by-side figure:first-child img") == 40
    assert natural_width(page, ".side-by-side figure:last-child img") == 40
    page.get_by_label("Path holds").fill("page")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.changes tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("removed")


def test_the_version_page_links_to_a_comparison_with_its_parent(
    local_ui: LocalUi, page: Page
) -> None:
    signed_in(page, local_ui).goto(f"{local_ui.base}/versions/{local_ui.ids['g2']}")
    page.get_by_role("link", name="Compare with gallery").click()
    expect(page.locator(".counts")).to_have_text("1 added, 3 modified, 1 removed")


def test_the_server_previews_files_for_a_read_only_token(
    team_ui: TeamUi, page: Page, tmp_path: Path
) -> None:
    sign_in(page, team_ui, team_ui.read_only)
    g1 = team_ui.ids["g1"]
    page.goto(f"{team_ui.base}/versions/{g1}")
    page.get_by_role("link", name="table.csv").click()
    expect(page.locator("table.rows tbody tr")).to_have_count(50)
    page.goto(file_url(team_ui.base, g1, "images/red.png"))
    assert natural_width(page, "img.preview") == 40
    screenshot(page, "server-file-image", tmp_path)
    part = page.request.get(
        file_url(team_ui.base, g1, "sounds/beep.wav", "raw"), headers={"Range": "bytes=0-3"}
    )
    assert (part.status, part.body()) == (206, b"RIFF")
    refused = page.request.get(file_url(team_ui.base, g1, "../secret", "raw"))
    assert refused.status == 400


def test_a_file_named_like_markup_previews_under_its_name_as_text(
    local_ui: LocalUi, page: Page
) -> None:
    signed_in(page, local_ui).goto(f"{local_ui.base}/versions/{local_ui.ids['v1']}")
    page.locator("table.files td.file a", has_text="onerror").click()
    expect(page.locator("h1.filename")).to_have_text(EVIL)
    expect(page.locator("pre.text-preview")).to_have_text("a name to escape")
    assert page.locator("main img").count() == 0


def test_a_draft_compares_by_paths_and_says_why_it_shows_no_diff(
    local_ui: LocalUi, page: Page
) -> None:
    birds, draft = local_ui.ids["birds"], local_ui.ids["draft"]
    signed_in(page, local_ui).goto(f"{local_ui.base}/compare?source={birds}&target={draft}")
    expect(page.locator(".counts")).to_have_text("1 added, 0 modified, 0 removed")
    page.get_by_role("link", name="calls/owl.txt").click()
    expect(page.locator("section.detail")).to_contain_text("is still a draft")


def test_every_control_of_the_file_and_compare_pages_is_labelled(
    local_ui: LocalUi, page: Page
) -> None:
    g1, g2 = local_ui.ids["g1"], local_ui.ids["g2"]
    signed_in(page, local_ui)
    for url in (
        file_url(local_ui.base, g1, "sounds/beep.wav"),
        f"/compare?source={g1}&target={g2}",
        "/dataset?project=media&name=gallery",
    ):
        page.goto(url if url.startswith("http") else local_ui.base + url)
        controls = page.locator(
            "main button, main input:not([type=hidden]), main select, main audio"
        ).all()
        assert controls
        for control in controls:
            assert control.evaluate(LABEL).strip(), control.evaluate("e => e.outerHTML")
