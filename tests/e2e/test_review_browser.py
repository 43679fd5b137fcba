"""The review page in headless Chromium (issue 18): it loads with no console errors,
filters, records accept/reject/edit in reviews.jsonl, export applies them, two tabs editing
one record are both recorded in order, tool calls are rendered, calibration runs blind.

The runs are hand-written (tests/review_fixtures.py): no model is needed; the server is the
real one (uvicorn on 127.0.0.1) and the browser is Debian's Chromium.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from synthloom.cli import app
from synthloom.review.server import running
from tests.e2e.browser import chromium
from tests.review_fixtures import classification_run, tool_dialogue_run

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browser():
    with chromium(1300, 1000) as driver:
        yield driver


def wait(driver, condition, timeout=10):
    """Poll ``condition(driver)`` until true; an element replaced mid-read counts as false."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, ignored_exceptions=(
        StaleElementReferenceException,)).until(lambda d: condition(d))


def by_id(driver, element_id):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def rows(driver):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, ".row")


def errors(driver) -> list[dict]:
    """Console entries at warning level or worse since the last call."""
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]


def open_page(driver, url):
    driver.get_log("browser")  # drop what earlier tests left
    driver.get(url)
    wait(driver, lambda d: d.execute_script("return document.body.dataset.ready === '1'"))


def total(driver) -> int:
    """The list's record count, once no list request is on its way."""
    if driver.execute_script("return document.body.dataset.loading === '1'"):
        return -1
    return int(by_id(driver, "total").text)


def row_texts(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.row')).map(r => r.innerText)")


def choose(driver, select_id, value):
    from selenium.webdriver.support.ui import Select

    Select(by_id(driver, select_id)).select_by_value(value)


def open_record(driver, record_id):
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f'.row[data-id="{record_id}"]').click()
    wait(driver, lambda d: d.find_elements(By.ID, "content") and by_id(d, "detail")
         .find_element(By.TAG_NAME, "h2").text.find(record_id) >= 0)


def reviews(run: Path) -> list[dict]:
    path = run / "reviews.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def message(driver) -> str:
    wait(driver, lambda d: by_id(d, "message").text)
    return by_id(driver, "message").text


def test_page_loads_without_console_errors_and_filters_work(browser, tmp_path):
    run = classification_run(tmp_path / "run")
    with running(run, reviewer="ann") as url:
        open_page(browser, url)
        assert total(browser) == 15
        assert errors(browser) == []
        choose(browser, "filter-label", "billing")
        wait(browser, lambda d: total(d) == 5)  # 4 accepted + the judge-cut rejection
        choose(browser, "filter-status", "accepted")
        wait(browser, lambda d: total(d) == 4)
        assert all("label: billing" in text for text in row_texts(browser))
        by_id(browser, "filter-q").send_keys("charged twice")
        wait(browser, lambda d: total(d) == 1)
        assert "charged twice" in row_texts(browser)[0]
        assert errors(browser) == []


def test_accept_reject_edit_land_in_reviews_and_export_applies_them(browser, tmp_path):
    run = classification_run(tmp_path / "run")
    data_before = (run / "data.jsonl").read_bytes()
    with running(run, reviewer="ann") as url:
        open_page(browser, url)
        first, second, third = (r.get_attribute("data-id") for r in rows(browser)[:3])
        open_record(browser, first)
        by_id(browser, "btn-accept").click()
        assert "accept" in message(browser)
        open_record(browser, second)
        by_id(browser, "reject-reason").send_keys("reads like a template")
        by_id(browser, "btn-reject").click()
        wait(browser, lambda d: len(reviews(run)) == 2)
        open_record(browser, third)
        choose(browser, "edit-field", "label")
        box = by_id(browser, "edit-value")
        box.clear()
        box.send_keys("outage")
        by_id(browser, "btn-save-edit").click()
        wait(browser, lambda d: len(reviews(run)) == 3)
        assert errors(browser) == []
        # an edit the kind's schema refuses: shown, not recorded
        box = by_id(browser, "edit-value")
        box.clear()
        box.send_keys("weather")
        by_id(browser, "btn-save-edit").click()
        wait(browser, lambda d: "not one of the task's labels" in by_id(d, "message").text)
        assert len(reviews(run)) == 3
    log = reviews(run)
    assert [(a["seq"], a["record"], a["action"], a["who"]) for a in log] == [
        (1, first, "accept", "ann"), (2, second, "reject", "ann"), (3, third, "edit", "ann")]
    assert log[1]["reason"] == "reads like a template"
    assert (log[2]["field"], log[2]["before"], log[2]["after"]) == ("label", "billing", "outage")
    assert (run / "data.jsonl").read_bytes() == data_before
    target = tmp_path / "reviewed.jsonl"
    result = CliRunner().invoke(app, ["export", str(run), "--with-reviews", "-o", str(target)])
    assert result.exit_code == 0, result.output
    exported = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(exported) == 11 and second not in {r["id"] for r in exported}
    edited = next(r for r in exported if third in r["provenance"]["parents"])
    assert edited["label"] == "outage" and edited["id"] != third
    assert edited["provenance"]["human_fields"] == {"label": "human:ann"}
    assert edited["provenance"]["operators"][-1]["operator"] == "human.review"


def test_two_tabs_editing_one_record_are_both_recorded_in_order(browser, tmp_path):
    run = classification_run(tmp_path / "run")
    with running(run, reviewer="ann") as url:
        open_page(browser, url)
        record = rows(browser)[0].get_attribute("data-id")
        open_record(browser, record)
        first_tab = browser.current_window_handle
        browser.switch_to.new_window("tab")
        try:
            open_page(browser, url)
            open_record(browser, record)
            for handle, value in ((first_tab, "outage"), (browser.current_window_handle,
                                                           "moving")):
                browser.switch_to.window(handle)
                choose(browser, "edit-field", "label")
                box = by_id(browser, "edit-value")
                box.clear()
                box.send_keys(value)
                by_id(browser, "btn-save-edit").click()
                wait(browser, lambda d, v=value: any(a.get("after") == v
                                                     for a in reviews(run)))
            assert errors(browser) == []
        finally:
            browser.close()
            browser.switch_to.window(first_tab)
    log = reviews(run)
    assert [(a["seq"], a["before"], a["after"]) for a in log] == [
        (1, "billing", "outage"), (2, "outage", "moving")]
    assert log[0]["tab"] != log[1]["tab"]
    assert log[1]["seen"] == "billing"  # the second tab edited over a change it had not seen


def test_a_corrupt_line_is_named_on_the_page_and_the_rest_shown(browser, tmp_path):
    run = classification_run(tmp_path / "run")
    with open(run / "data.jsonl", "a") as f:
        f.write('{"id": "broken"\n')
    with running(run, reviewer="ann") as url:
        open_page(browser, url)
        assert total(browser) == 15
        assert "data.jsonl:13" in by_id(browser, "problems").text
        assert by_id(browser, "problems").is_displayed()
        assert errors(browser) == []


def test_tool_calls_are_rendered_in_the_conversation(browser, tmp_path):
    from selenium.webdriver.common.by import By

    run = tool_dialogue_run(tmp_path / "run")
    with running(run, reviewer="ann") as url:
        open_page(browser, url)
        assert total(browser) == 2
        open_record(browser, rows(browser)[0].get_attribute("data-id"))
        calls = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#content .call")]
        assert len(calls) == 2 and calls[0].startswith("calls find_flights(")
        roles = [m.get_attribute("class") for m in browser.find_elements(
            By.CSS_SELECTOR, "#content .msg")]
        assert roles.count("msg tool") == 2 and roles[0] == "msg user"
        assert errors(browser) == []


def test_calibration_is_blind_and_shows_the_judges_agreement(browser, tmp_path):
    from selenium.webdriver.common.by import By

    run = classification_run(tmp_path / "run")
    with running(run, reviewer="ann") as url:
        open_page(browser, url)
        by_id(browser, "tab-calibration").click()
        box = by_id(browser, "cal-n")
        box.clear()
        box.send_keys("6")
        by_id(browser, "btn-cal-start").click()
        for i in range(6):
            wait(browser, lambda d, i=i: f"Record {i + 1} of 6" in by_id(d, "cal-progress").text)
            shown = by_id(browser, "cal-record").text
            assert "trust" not in shown and "self_consistency" not in shown
            record_id = by_id(browser, "cal-record").get_attribute("data-id")
            lines = ((run / "data.jsonl").read_text() + (run / "rejected.jsonl").read_text())
            label = json.loads(next(line for line in lines.splitlines()
                                    if record_id in line))["label"]
            browser.find_element(By.CSS_SELECTOR, f'input[name=cal-label][value="{label}"]').click()
            browser.find_element(By.CSS_SELECTOR, 'input[name="cal-relevance"][value="5"]').click()
            by_id(browser, "btn-cal-keep" if i % 2 == 0 else "btn-cal-drop").click()
        wait(browser, lambda d: d.find_elements(By.ID, "cal-table"))
        table = by_id(browser, "cal-table").text
        assert "generator's label" in table and "kappa 1.000" in table
        assert "Best cut on the judge mean score" in by_id(browser, "cal-threshold").text
        assert errors(browser) == []
    rated = [a for a in reviews(run) if a["action"] == "rate"]
    assert len(rated) == 6 and all(a["blind"] and a["scores"] == {"relevance": 5}
                                   for a in rated)


def _other_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))  # no packet is sent: only picks an interface
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


def test_a_request_without_the_token_is_refused_and_only_loopback_listens(browser, tmp_path):
    run = classification_run(tmp_path / "run")
    with running(run, reviewer="ann") as url:
        bare = url.split("?")[0]
        port = int(bare.rsplit(":", 1)[1].strip("/"))
        assert bare.startswith("http://127.0.0.1:")
        other = _other_address()
        if other is not None:  # the same port on the machine's other address: nobody home
            with pytest.raises(OSError):
                socket.create_connection((other, port), timeout=2).close()
        assert httpx.get(bare).status_code == 403
        assert httpx.get(bare + "api/records").status_code == 403
        browser.get(bare)
        assert "403" in browser.page_source
        browser.get_log("browser")  # the 403 page's own console line
