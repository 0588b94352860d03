"""Open a page in a real headless Chromium with Selenium, through Debian's chromedriver (nothing is downloaded).

``open_page(browser, url, screenshot)`` loads the page and reports what a user's browser would show as
broken: the browser's console log (messages, uncaught exceptions, failed loads), every request the page made
(Chromium's performance log) and each image's load state, and saves a full-page screenshot.
``what_is_broken(seen, folder)`` turns that into the checks a report page must pass.
"""

import json
import os
import shutil
import tempfile

CHROMEDRIVER = "/usr/bin/chromedriver"  # Debian's chromium-driver, the driver of Debian's chromium
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
_IMAGES = ("return Array.from(document.images, function (i) {"
           " return [i.getAttribute('src'), i.complete, i.naturalWidth, i.naturalHeight]; });")
_HEIGHT = "return Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0);"
_MAX_HEIGHT = 16384  # Chromium's largest screenshot side


def find_chromium():
    """Return the path of a Chromium executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _missing():
    """What the browser tests lack here (Chromium, its driver, Selenium), as (what, apt or pip install), or None."""
    if find_chromium() is None:
        return "chromium", "apt-get install chromium"
    if not os.access(CHROMEDRIVER, os.X_OK):
        return "chromedriver at %s" % CHROMEDRIVER, "apt-get install chromium-driver"
    try:
        import selenium.webdriver  # noqa: F401
    except ImportError:
        return "selenium", "pip install -e '.[test]'"
    return None


def chromium_or_skip(what):
    """Return Chromium's path; without it, its driver or Selenium, skip the test (saying why and what runs it),
    or fail under CI.

    ``what`` names what the test would have opened in the browser. CI (``.ci/run``) installs Chromium and
    chromium-driver (and ``make setup`` Selenium), so there their absence is a broken set-up, not a reason to skip.
    """
    import pytest
    missing = _missing()
    if missing is not None:
        name, install = missing
        if os.environ.get("CI"):
            pytest.fail("%s is not installed; .ci/run installs it (apt-get install -y chromium chromium-driver; "
                        "make setup installs selenium)" % name)
        pytest.skip("no %s on this machine, so %s was not opened in a browser: CI does it (.ci/run installs "
                    "Chromium and its driver); %s to do it here" % (name, what, install))
    return find_chromium()


def _driver(browser, width, scratch):
    """Chrome's WebDriver on ``browser``; the driver and the browser keep their profile and sockets in ``scratch``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = browser  # with the driver's path given too, Selenium Manager is never run
    for flag in FLAGS + ["--window-size=%d,900" % width]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    service = Service(CHROMEDRIVER, env=dict(os.environ, TMPDIR=scratch))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    return driver


def _network(driver):
    """Every URL the page asked for and each failed load, from Chromium's performance log."""
    requests, failed, urls = [], [], {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        method, params = message.get("method"), message.get("params", {})
        if method == "Network.requestWillBeSent":
            urls[params.get("requestId")] = params["request"]["url"]
            requests.append(params["request"]["url"])
        elif method == "Network.loadingFailed":
            failed.append("failed to load: %s (%s)" % (urls.get(params.get("requestId")), params.get("errorText")))
    return requests, failed


def _fit_window(driver, width):
    """Make the window as tall as the page (up to Chromium's limit), so that a screenshot shows all of it."""
    page = int(driver.execute_script(_HEIGHT))
    frame = driver.get_window_size()["height"] - int(driver.execute_script("return window.innerHeight;"))
    driver.set_window_size(width, min(max(page + frame, 900), _MAX_HEIGHT))


def open_page(browser, url, screenshot, width=1300):
    """Load ``url`` in headless ``browser``; save a full-page PNG to ``screenshot``; return what was seen.

    Returns
    -------
    dict
        ``problems`` (every entry of the browser's console log, as ``'<LEVEL> <source>: <message>'``, and each
        failed load), ``requests`` (every URL the page asked for), ``images`` (``[src, complete, naturalWidth,
        naturalHeight]`` of each ``<img>``) and ``title``.
    """
    scratch, driver = tempfile.mkdtemp(prefix="casa_plugin-chromium-"), None
    try:
        driver = _driver(browser, width, scratch)
        driver.get(url)  # returns once the load event has fired
        images = driver.execute_script(_IMAGES)
        title = driver.title
        _fit_window(driver, width)
        driver.get_screenshot_as_file(screenshot)
        console = ["%s %s: %s" % (e.get("level"), e.get("source"), e.get("message"))
                   for e in driver.get_log("browser")]
        requests, failed = _network(driver)
        return {"problems": console + failed, "requests": requests, "images": images, "title": title}
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(scratch, ignore_errors=True)


def what_is_broken(seen, folder):
    """The checks a report page in ``folder`` must pass, as a list of what failed (empty when none).

    The console log is empty and no load failed, every image was loaded and has a size, and every request
    is a file under ``folder`` (the page works offline, from disk, and sends nothing anywhere).
    """
    local = "file://" + os.path.abspath(folder) + "/"
    broken = list(seen["problems"])
    broken += ["image not shown: %s" % src for src, complete, width, _ in seen["images"] if not (complete and width)]
    broken += ["not local: %s" % url for url in seen["requests"] if not url.startswith(local)]
    if not seen["requests"]:
        broken.append("no request seen (the performance log is empty)")
    return broken
