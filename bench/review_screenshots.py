"""Screenshots of the review page (issue 18) for docs/: the list, one record, and the
calibration result, taken in headless Chromium against a real run folder.

    .venv/bin/python bench/review_screenshots.py RUN_DIR --record ID -o docs/review

The calibration screenshot shows whatever blind ratings RUN_DIR/reviews.jsonl holds (rate
the sample on the page's Calibration tab first). The run folder is served as it is; the
page is only looked at, nothing is clicked that writes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthloom.review.server import running  # noqa: E402
from tests.e2e.browser import chromium  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--record", help="record id for the record screenshot (default: the "
                        "first in the list)")
    parser.add_argument("--label", help="filter the list by this label first")
    parser.add_argument("-o", "--out", type=Path, default=Path("docs/review"))
    args = parser.parse_args()

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    args.out.mkdir(parents=True, exist_ok=True)
    with running(args.run, reviewer="screenshot") as url, chromium(1400, 1000) as d:
        def ready(condition):
            WebDriverWait(d, 15).until(lambda d: condition(d))

        d.get(url)
        ready(lambda d: d.execute_script("return document.body.dataset.ready === '1'"))
        if args.label:
            Select(d.find_element(By.ID, "filter-label")).select_by_value(args.label)
            ready(lambda d: not d.execute_script("return document.body.dataset.loading"))
        d.save_screenshot(str(args.out / "list.png"))
        record = args.record or d.find_elements(By.CSS_SELECTOR, ".row")[0].get_attribute(
            "data-id")
        d.execute_script(f"showRecord({record!r})")
        ready(lambda d: d.find_elements(By.ID, "content"))
        time.sleep(0.3)
        d.set_window_size(1400, 1500)
        d.save_screenshot(str(args.out / "record.png"))
        d.set_window_size(1400, 1000)
        d.find_element(By.ID, "tab-calibration").click()
        d.find_element(By.ID, "btn-cal-result").click()
        ready(lambda d: d.find_elements(By.ID, "cal-table") or d.find_elements(
            By.CSS_SELECTOR, "#cal-result .hint"))
        time.sleep(0.2)
        d.save_screenshot(str(args.out / "calibration.png"))
        problems = [e for e in d.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    print(f"wrote {args.out}/list.png, record.png, calibration.png; console problems: "
          f"{problems or 'none'}")


if __name__ == "__main__":
    main()
