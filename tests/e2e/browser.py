"""Open an HTML file in headless Debian Chromium (Selenium + chromedriver) and check it.

Usable as a script too: ``python -m tests.e2e.browser REPORT.html SCREENSHOT.png``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Without the networking flags Chromium keeps trying (and failing) to reach Google's hosts
# on this closed network; --no-sandbox because the tests run as root.
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
)


@contextmanager
def chromium(width: int = 1200, height: int = 900) -> Iterator[Any]:
    """A headless Chromium Selenium driver (browser console kept: ``driver.get_log(
    "browser")``), quit and its profile removed on exit.

    Raises:
        RuntimeError: Chromium or chromedriver is missing.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        raise RuntimeError(
            f"{CHROMIUM} or {CHROMEDRIVER} missing: `make install` installs Debian's chromium "
            "and chromium-driver"
        )
    profile = tempfile.mkdtemp(prefix="synthloom-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot_full(driver: Any, path: Path, width: int = 1200) -> None:
    """Save a PNG of the whole page (the window grown to the page's height, at most 16000
    pixels)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(int(height) + 50, 16000))
    driver.save_screenshot(str(path))


def render(html: Path, screenshot: Path | None = None) -> dict[str, Any]:
    """Load ``html`` (file://) and return ``{"title", "images": [[complete, naturalWidth,
    alt]], "console": [log entries], "height"}``; saves a full-page PNG if asked."""
    with chromium() as driver:
        driver.get(html.resolve().as_uri())
        state = driver.execute_script(
            "return {title: document.title, ready: document.readyState,"
            " height: document.documentElement.scrollHeight,"
            " images: Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])}"
        )
        console = driver.get_log("browser")
        if screenshot is not None:
            screenshot_full(driver, screenshot)
        return {**state, "console": console}


if __name__ == "__main__":
    result = render(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)
    print({k: v for k, v in result.items() if k != "images"}, len(result["images"]), "images")
