"""The UI of ``deltaset server`` in a real Chromium: signed in with a token through a form,
never with the token in a URL; a read-only token browses and is offered no edit."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests import servers
from tests.ui.conftest import TeamUi, screenshot


def sign_in(page: Page, ui: TeamUi, token: str) -> None:
    page.goto(ui.base + "/")
    page.wait_for_url("**/sign-in?next=%2F")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(ui.base + "/")


def test_a_read_only_token_signs_in_and_browses(
    team_ui: TeamUi, page: Page, tmp_path: Path
) -> None:
    page.goto(team_ui.base + "/")
    expect(page.get_by_role("heading", name="Sign in to this deltaset server")).to_be_visible()
    screenshot(page, "sign-in", tmp_path)
    sign_in(page, team_ui, team_ui.read_only)
    assert team_ui.read_only not in page.url
    cookie = next(c for c in page.context.cookies() if c["name"] == "deltaset_token")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    expect(page.locator("header .who")).to_have_text("read-only")
    page.get_by_role("link", name="pets", exact=True).click()
    page.locator(f'svg.lineage a[href="/versions/{team_ui.ids["v1"]}"]').click()
    expect(page.locator("#version-id")).to_have_text(team_ui.ids["v1"])
    page.get_by_role("link", name="images/").click()
    expect(page.get_by_role("navigation", name="Folder")).to_contain_text("images")
    assert page.locator("main form, main [data-edit]").count() == 0  # nothing to change
    page.get_by_role("button", name="Sign out").click()
    page.goto(team_ui.base + "/")
    page.wait_for_url("**/sign-in?next=%2F")


def test_a_read_write_token_is_shown_as_such(team_ui: TeamUi, page: Page) -> None:
    sign_in(page, team_ui, team_ui.read_write)
    expect(page.locator("header .who")).to_have_text("read-write")


def test_an_unknown_token_is_refused_in_one_sentence(team_ui: TeamUi, page: Page) -> None:
    page.goto(team_ui.base + "/sign-in")
    page.get_by_label("API token").fill("dst_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text(
        "This token is not known to this server (revoked or mistyped)."
    )
    assert not [c for c in page.context.cookies() if c["name"] == "deltaset_token"]


def test_the_api_still_answers_json_next_to_the_ui(team_ui: TeamUi, page: Page) -> None:
    response = page.request.get(team_ui.base + "/api/v1/info")
    assert response.status == 401
    assert "error" in response.json()


def test_a_form_of_another_site_cannot_sign_in(team_ui: TeamUi, page: Page) -> None:
    response = page.request.post(
        team_ui.base + "/sign-in",
        form={"token": team_ui.read_write, "next": "/"},
        headers={"Origin": "https://evil.example"},
        max_redirects=0,
    )
    assert response.status == 403
    assert "set-cookie" not in response.headers


def test_a_server_without_tokens_shows_its_pages_without_a_sign_in(
    page: Page, tmp_path: Path
) -> None:
    server = servers.start_deltaset_server(tmp_path / "open-server", auth=False)
    try:
        page.goto(server.endpoint + "/")
        expect(page.get_by_role("heading", name="Datasets", exact=True)).to_be_visible()
        assert page.url == server.endpoint + "/"
    finally:
        server.stop()
