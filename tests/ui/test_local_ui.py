"""``deltaset ui`` in a real Chromium: a person opens the printed link, finds a dataset,
follows its lineage and browses its folders."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.ui.conftest import LocalUi, screenshot
from tests.ui.make_catalog import EVIL

_signed_in: list[str] = []  # the cookie state of the one browser the secret opened


def signed_in(page: Page, ui: LocalUi) -> Page:
    """``page`` with the session of the browser that used the one-time link."""
    if not _signed_in:
        page.goto(ui.url)
        _signed_in.append(page.context.storage_state())  # type: ignore[arg-type]
    else:
        page.context.add_cookies(_signed_in[0]["cookies"])  # type: ignore[index]
    return page


def test_the_link_signs_in_once_and_leaves_no_secret_in_the_url(
    local_ui: LocalUi, page: Page, browser: Browser, tmp_path: Path
) -> None:
    signed_in(page, local_ui)
    page.goto(local_ui.base + "/")
    assert "token" not in page.url
    expect(page.get_by_role("heading", name="Datasets", exact=True)).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "deltaset_ui")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    other = browser.new_context()
    try:
        stranger = other.new_page()
        stranger.goto(local_ui.url)  # the same link, a second time: refused
        expect(stranger.get_by_role("alert")).to_contain_text("needs the link")
        stranger.goto(local_ui.base + "/")
        expect(stranger.get_by_role("alert")).to_contain_text("needs the link")
    finally:
        other.close()


def test_home_finds_a_dataset_by_name_and_tag(
    local_ui: LocalUi, page: Page, tmp_path: Path
) -> None:
    signed_in(page, local_ui).goto(local_ui.base + "/")
    rows = page.locator("table.data tbody tr")
    expect(rows).to_have_count(2)
    screenshot(page, "home", tmp_path)
    page.get_by_label("Name").fill("pet")
    page.get_by_label("Name").press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("pets")
    page.goto(local_ui.base + "/?tag=raw")  # the latest version's tags: pets' is "reviewed"
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("birds")
    page.get_by_label("Tag").select_option("reviewed")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("pets")
    page.goto(local_ui.base + "/")
    page.get_by_role("navigation", name="Projects").get_by_role("link", name="audio").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("birds")


def test_sorting_by_size_orders_the_rows(local_ui: LocalUi, page: Page) -> None:
    signed_in(page, local_ui).goto(local_ui.base + "/?sort=size&order=desc")
    names = page.locator("table.data tbody tr td:first-child").all_inner_texts()
    assert names == ["pets", "birds"]
    page.get_by_role("link", name=re.compile("^Size")).click()  # toggles to ascending
    names = page.locator("table.data tbody tr td:first-child").all_inner_texts()
    assert names == ["birds", "pets"]


def test_a_lineage_node_opens_the_parent_version(
    local_ui: LocalUi, page: Page, tmp_path: Path
) -> None:
    signed_in(page, local_ui).goto(local_ui.base + "/")
    page.get_by_role("link", name="pets", exact=True).click()
    expect(page.get_by_role("heading", name="pets", exact=True)).to_be_visible()
    expect(page.locator("#growth canvas").first).to_be_visible()  # the vendored chart drew
    screenshot(page, "dataset", tmp_path)
    node = page.locator(f'svg.lineage a[href="/versions/{local_ui.ids["v1"]}"]')
    node.focus()  # a node is reached by the keyboard and opened by Enter
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/versions/{local_ui.ids['v1']}")
    expect(page.locator("#version-id")).to_have_text(local_ui.ids["v1"])


def test_browsing_folders_with_breadcrumbs(local_ui: LocalUi, page: Page, tmp_path: Path) -> None:
    v2 = local_ui.ids["v2"]
    signed_in(page, local_ui).goto(f"{local_ui.base}/versions/{v2}")
    expect(page.get_by_role("heading", name="Changes against its parents")).to_be_visible()
    expect(page.get_by_text("1 added, 1 modified, 1 removed")).to_be_visible()
    for kind, path in (("Added", "c2.txt"), ("Modified", "labels.csv"), ("Removed", "d1.txt")):
        page.get_by_text(f"{kind} (1)").click()  # opens its list
        expect(page.locator("details[open] ul.paths").last).to_contain_text(path)
    screenshot(page, "version", tmp_path)
    page.get_by_role("link", name="images/").click()
    page.get_by_role("link", name="cats/").click()
    crumbs = page.get_by_role("navigation", name="Folder")
    expect(crumbs).to_contain_text("images / cats")
    names = page.locator("table.files tbody td:first-child").all_inner_texts()
    assert names == ["c1.txt", "c2.txt"]
    crumbs.get_by_role("link", name="images").click()
    assert page.locator("table.files tbody td:first-child").all_inner_texts() == ["cats/"]
    screenshot(page, "folder", tmp_path)


def test_a_file_named_like_markup_shows_as_text(local_ui: LocalUi, page: Page) -> None:
    signed_in(page, local_ui).goto(f"{local_ui.base}/versions/{local_ui.ids['v1']}")
    cell = page.locator("table.files td.file", has_text="onerror")
    expect(cell).to_have_text(EVIL)
    assert page.locator("main img").count() == 0  # no element was made of the name


def test_pages_refuse_traversal_and_set_a_content_security_policy(
    local_ui: LocalUi, page: Page
) -> None:
    signed_in(page, local_ui)
    response = page.goto(f"{local_ui.base}/versions/{local_ui.ids['v1']}?folder=../../etc")
    assert response is not None
    assert response.status == 400
    expect(page.get_by_role("alert")).to_have_text(
        "The folder '../../etc' is not a path inside the dataset."
    )
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    response = page.goto(f"{local_ui.base}/versions/{local_ui.ids['v1']}?folder=nowhere")
    assert response is not None
    assert response.status == 404


def test_a_draft_shows_its_files_so_far_and_is_not_the_latest(
    local_ui: LocalUi, page: Page
) -> None:
    signed_in(page, local_ui).goto(local_ui.base + "/?q=birds")
    row = page.locator("table.data tbody tr")
    expect(row).to_contain_text("1.0.0")  # the final version, not the draft above it
    expect(row.locator("td").nth(3)).to_have_text("2")
    page.goto(f"{local_ui.base}/versions/{local_ui.ids['draft']}")
    expect(page.locator(".facts .state")).to_have_text("draft")
    expect(page.get_by_text("1 added, 0 modified, 0 removed")).to_be_visible()
    page.get_by_role("link", name="calls/").click()
    expect(page.locator("table.files tbody td.file")).to_have_text("owl.txt")


def test_an_unknown_version_is_a_404_in_one_sentence(local_ui: LocalUi, page: Page) -> None:
    signed_in(page, local_ui)
    response = page.goto(f"{local_ui.base}/versions/{'0' * 32}")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("alert")).to_contain_text("0" * 32)


# A control's name as a screen reader finds it: its label, else aria-label, else its text.
LABEL = (
    "e => (e.labels && e.labels.length ? e.labels[0].textContent : '')"
    " || e.getAttribute('aria-label') || e.textContent"
)


def test_the_keyboard_reaches_search_and_every_control_is_labelled(
    local_ui: LocalUi, page: Page
) -> None:
    signed_in(page, local_ui).goto(local_ui.base + "/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("/")
    expect(page.get_by_label("Name")).to_be_focused()
    page.keyboard.type("birds")
    page.keyboard.press("Enter")
    expect(page.locator("table.data tbody tr")).to_have_count(1)
    v1, v2 = local_ui.ids["v1"], local_ui.ids["v2"]
    for url in (
        "/",
        f"/versions/{v2}",
        "/dataset?project=vision&name=pets",
        f"/compare?target={v2}",
        f"/compare?source={v1}&target={v2}&path=labels.csv",
        f"/versions/{v2}/delete",
    ):
        page.goto(local_ui.base + url)
        controls = page.locator("button, input:not([type=hidden]), select, textarea").all()
        assert len(controls) >= 1, url  # search, tag, copy, choice or confirmation
        for control in controls:
            assert control.evaluate(LABEL).strip(), control.evaluate("e => e.outerHTML")


def test_a_version_names_the_runs_that_used_it(
    local_ui: LocalUi, page: Page, tmp_path: Path
) -> None:
    signed_in(page, local_ui).goto(f"{local_ui.base}/versions/{local_ui.ids['v2']}")
    uses = page.locator("section.uses table.uses-table tbody tr")
    expect(uses).to_have_count(1)
    expect(uses.first).to_contain_text("train-<b>42</b>")  # its name as text, not markup
    expect(uses.first).to_contain_text("pets-train")
    assert page.locator("section.uses b").count() == 0
    screenshot(page, "version-uses", tmp_path)
    page.goto(f"{local_ui.base}/versions/{local_ui.ids['v1']}")
    expect(page.locator("section.uses")).to_contain_text("No recorded reads yet")


def test_a_phone_wide_window_scrolls_wide_tables_in_place_not_the_page(
    local_ui: LocalUi, page: Page, tmp_path: Path
) -> None:
    signed_in(page, local_ui)
    page.set_viewport_size({"width": 390, "height": 844})
    v1, v2 = local_ui.ids["v1"], local_ui.ids["v2"]
    for path in (
        "/",
        "/dataset?project=vision&name=pets",
        f"/versions/{v2}",
        f"/compare?source={v1}&target={v2}",
    ):
        page.goto(local_ui.base + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
    page.goto(local_ui.base + "/dataset?project=vision&name=pets")
    screenshot(page, "dataset-narrow", tmp_path)
