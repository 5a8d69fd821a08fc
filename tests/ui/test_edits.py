"""Edits in a real Chromium: tags, description, publication and deletion by someone who may
write, refused (403) to a read-only token and to a form without this session's CSRF token; and
the statistics and reports shown on a version's page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import LocalUi, TeamUi, screenshot
from tests.ui.test_server_ui import sign_in

EDIT_ROUTES = ("tags", "description", "publish", "delete")
READ_ONLY = "A read-only token cannot change versions; sign in with a read-write token."

_local_session: list[Any] = []  # the cookies of the browser this module's link opened


def local(page: Page, ui: LocalUi) -> Page:
    if not _local_session:
        page.goto(ui.url)
        _local_session.append(page.context.storage_state()["cookies"])
    else:
        page.context.add_cookies(_local_session[0])
    return page


def api_record(page: Page, ui: TeamUi, version_id: str) -> dict[str, Any]:
    response = page.request.get(
        f"{ui.base}/api/v1/versions/{version_id}",
        headers={"Authorization": f"Bearer {ui.read_write}"},
    )
    assert response.ok, response.text()
    found: dict[str, Any] = response.json()
    return found


def test_a_writer_edits_tags_and_description_and_the_api_sees_them(
    team_ui: TeamUi, page: Page, tmp_path: Path
) -> None:
    v2 = team_ui.ids["v2"]
    sign_in(page, team_ui, team_ui.read_write)
    page.goto(f"{team_ui.base}/versions/{v2}")
    page.get_by_label("Add tags").fill("gold, checked by hand")
    page.get_by_role("button", name="Add", exact=True).click()
    page.wait_for_url(f"**/versions/{v2}")
    page.get_by_role("button", name="Remove the tag reviewed").click()
    page.get_by_label("Description").fill("Cats <and> dogs, relabelled")
    page.get_by_role("button", name="Save the description").click()
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("Cats <and> dogs, relabelled")
    expect(facts.locator("a.tag")).to_have_text(["gold", "checked by hand"])
    screenshot(page, "version-edit", tmp_path)
    record = api_record(page, team_ui, v2)
    assert sorted(record["tags"]) == ["checked by hand", "gold"]
    assert record["description"] == "Cats <and> dogs, relabelled"


def test_a_writer_publishes_a_version(team_ui: TeamUi, page: Page) -> None:
    v1 = team_ui.ids["v1"]
    sign_in(page, team_ui, team_ui.read_write)
    page.goto(f"{team_ui.base}/versions/{v1}")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".facts .state")).to_have_text("published")
    expect(page.get_by_role("button", name="Publish")).to_have_count(0)
    assert api_record(page, team_ui, v1)["state"] == "published"


def test_a_read_write_token_that_is_not_an_admin_cannot_delete_a_final_version(
    team_ui: TeamUi, page: Page
) -> None:
    birds = team_ui.ids["birds"]
    sign_in(page, team_ui, team_ui.read_write)
    page.goto(f"{team_ui.base}/versions/{birds}/delete")
    page.get_by_label("Delete it even though").check()
    page.get_by_role("button", name="Delete permanently").click()
    expect(page.get_by_role("alert")).to_have_text(
        f"Only an admin token may delete the final version {birds} "
        "('deltaset server token create --admin')."
    )
    assert api_record(page, team_ui, birds)["id"] == birds


@pytest.mark.parametrize("route", EDIT_ROUTES)
def test_a_read_only_token_gets_403_on_every_edit(team_ui: TeamUi, page: Page, route: str) -> None:
    v2 = team_ui.ids["v2"]
    sign_in(page, team_ui, team_ui.read_only)
    page.goto(f"{team_ui.base}/versions/{v2}")
    csrf = "not-offered-to-a-reader"
    form = {"csrf": csrf, "add": "sneaky", "description": "sneaky", "confirm": "yes"}
    response = page.request.post(f"{team_ui.base}/versions/{v2}/{route}", form=form)
    assert response.status == 403
    assert READ_ONLY in response.text()
    if route == "delete":  # the confirmation page too
        assert page.request.get(f"{team_ui.base}/versions/{v2}/delete").status == 403
    record = api_record(page, team_ui, v2)
    assert "sneaky" not in record["tags"]
    assert record["description"] != "sneaky"


def test_a_read_only_token_sees_no_edit_control(team_ui: TeamUi, page: Page) -> None:
    sign_in(page, team_ui, team_ui.read_only)
    page.goto(f"{team_ui.base}/versions/{team_ui.ids['v2']}")
    expect(page.locator("#version-id")).to_have_text(team_ui.ids["v2"])
    assert page.locator("main form, main [data-edit], main textarea").count() == 0
    expect(page.get_by_role("link", name=re.compile("Delete"))).to_have_count(0)


def test_a_form_without_the_session_csrf_token_or_from_another_site_is_refused(
    local_ui: LocalUi, page: Page
) -> None:
    v2 = local_ui.ids["v2"]
    local(page, local_ui).goto(f"{local_ui.base}/versions/{v2}")
    csrf = page.locator("form input[name=csrf]").first.input_value()
    url = f"{local_ui.base}/versions/{v2}/tags"
    stale = page.request.post(url, form={"add": "forged"})  # the session cookie, no token
    assert stale.status == 403
    assert "This form has expired or comes from another site" in stale.text()
    cross = page.request.post(
        url, form={"add": "forged", "csrf": csrf}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status == 403
    assert "A form of another site cannot change versions here." in cross.text()
    page.reload()
    expect(page.locator("dl.facts")).not_to_contain_text("forged")


def test_deleting_asks_first_and_keeps_the_parent_of_other_versions(
    local_ui: LocalUi, page: Page, tmp_path: Path
) -> None:
    v1, v2 = local_ui.ids["v1"], local_ui.ids["v2"]
    local(page, local_ui).goto(f"{local_ui.base}/versions/{v1}")
    page.get_by_role("link", name="Delete this version…").click()
    expect(page.get_by_role("heading", name=re.compile("^Delete pets"))).to_be_visible()
    expect(page.locator("main")).to_contain_text("1 other version(s) have it as a parent")
    screenshot(page, "delete-confirm", tmp_path)
    page.get_by_role("button", name="Delete permanently").click()
    expect(page.get_by_role("alert")).to_have_text(
        re.compile(rf"^The dataset version {v1} is a parent of 1 other version\(s\) .*{v2}.*\.$")
    )
    expect(page.locator("#version-id")).to_have_text(v1)  # still there


def test_deleting_a_draft_after_confirming(local_ui: LocalUi, page: Page) -> None:
    draft = local_ui.ids["draft"]
    local(page, local_ui).goto(f"{local_ui.base}/versions/{draft}")
    page.get_by_role("link", name="Delete this version…").click()
    page.get_by_role("button", name="Delete permanently").click()
    expect(page.get_by_role("heading", name="birds", exact=True)).to_be_visible()
    expect(page.locator("table.data").first.locator("tbody tr")).to_have_count(1)
    response = page.goto(f"{local_ui.base}/versions/{draft}")
    assert response is not None
    assert response.status == 404


def test_statistics_are_drawn_as_labelled_bars_with_a_table(
    local_ui: LocalUi, page: Page, tmp_path: Path
) -> None:
    local(page, local_ui).goto(f"{local_ui.base}/versions/{local_ui.ids['v2']}")
    chart = page.get_by_role("img", name="Files by extension")
    expect(chart).to_be_visible()
    expect(chart.locator("rect")).to_have_count(2)  # .txt and .csv
    expect(chart.locator("text")).to_contain_text([".txt", ".csv"])
    folders = page.get_by_role("img", name="Bytes by top-level folder")
    expect(folders.locator("text")).to_contain_text(["(top level)", "images"])
    page.get_by_text("Files and bytes by extension, as a table").click()
    expect(page.locator("table.summary").first).to_contain_text(".txt")
    screenshot(page, "version-statistics", tmp_path)


def test_the_logger_reports_are_shown(local_ui: LocalUi, page: Page, tmp_path: Path) -> None:
    v2 = local_ui.ids["v2"]
    local(page, local_ui).goto(f"{local_ui.base}/versions/{v2}")
    reports = page.locator("section.reports")
    expect(reports).to_contain_text("labels checked by hand")
    expect(reports.locator("table.report-scalars")).to_contain_text("0: 0.5, 1: 0.25")
    plot = reports.locator("figure.report-plot")
    expect(plot.locator("canvas").first).to_be_visible()  # the vendored uPlot drew the lines
    expect(plot.locator(".u-legend .u-label")).to_have_text(["iteration", "train", 'val "<i>"'])
    histogram = reports.get_by_role("img", name="labels / count")
    expect(histogram.locator("rect")).to_have_count(2)
    expect(histogram.locator("text")).to_contain_text(["cat", "3", "<b>dog</b>", "1"])
    table = reports.locator("table.report-table")
    expect(table.locator("th")).to_have_text(["label", "count"])
    expect(table.locator("tbody tr").last).to_contain_text("<b>dog</b>")  # text, not markup
    image = reports.get_by_role("img", name="Reported image samples / first")
    expect(image).to_be_visible()
    image.scroll_into_view_if_needed()  # a lazy image loads once it is in view
    assert image.evaluate("i => i.decode().then(() => i.naturalWidth)") == 16
    reports.scroll_into_view_if_needed()
    screenshot(page, "version-reports", tmp_path)
    found = page.request.get(f"{local_ui.base}/versions/{v2}/reports/report.image.samples.first")
    assert found.headers["content-type"] == "image/png"
    not_an_image = page.request.get(f"{local_ui.base}/versions/{v2}/reports/report.text")
    assert not_an_image.status == 404


def test_a_bad_edit_is_one_sentence_on_the_page(local_ui: LocalUi, page: Page) -> None:
    v2 = local_ui.ids["v2"]
    local(page, local_ui).goto(f"{local_ui.base}/versions/{v2}")
    csrf = page.locator("form input[name=csrf]").first.input_value()
    url = f"{local_ui.base}/versions/{v2}/description"
    too_long = page.request.post(url, form={"csrf": csrf, "description": "x" * 10_001})
    assert too_long.status == 400
    assert "A description is at most 10000 characters long." in too_long.text()
    assert 'id="version-id"' in too_long.text()  # on the version's own page
    huge = page.request.post(url, form={"csrf": csrf, "description": "x" * (65 << 10)})
    assert huge.status == 413
    assert "An edit form is at most 64 KB." in huge.text()
