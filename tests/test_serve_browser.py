"""End-to-end browser test of ``talkface serve``: headless Chromium (Debian's package) driven by Selenium.

A real server (uvicorn on loopback, real pipeline) serves the page; the browser uploads a GRID still
and the clip's speech, waits for the job, plays the video, and the test downloads the mp4 through
the page's link and checks it holds video and audio of the speech's length. A second job records
speech through the page's microphone button (Chromium's fake audio device) and animates that.
Screenshots are saved under the test's tmp folder, and copied to ``$TALKFACE_TEST_ARTIFACTS`` if set.
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serve_media import grid_speech, grid_still, image_bytes, real_pipeline_missing, shared_server, wav_bytes
from talkface.io.media import probe

if real_pipeline_missing():
    pytest.skip(str(real_pipeline_missing()), allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium chromium-driver; "
                ".ci/run installs it)", allow_module_level=True)

SPEECH_S = 1.0


@pytest.fixture(scope="module")
def server() -> str:
    """Base URL of the shared live ``talkface serve`` (real pipeline, one worker) on loopback."""
    return shared_server().url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1200,900", "--autoplay-policy=no-user-gesture-required",
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _artifact(path: Path) -> None:
    target = os.environ.get("TALKFACE_TEST_ARTIFACTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def _wait_for_result(driver: Any, timeout: float = 180) -> None:
    """Until the page shows the download link (job done) or an error; fails with the page's error."""

    def finished(d: Any) -> bool:
        return bool(d.find_element(By.ID, "download").is_displayed() or d.find_element(By.ID, "error").text)

    WebDriverWait(driver, timeout, poll_frequency=0.2).until(finished)
    error = driver.find_element(By.ID, "error").text
    assert not error, f"the page reports: {error}"


def _play(driver: Any) -> dict[str, Any]:
    """Play the page's video to its end (muted) and report what the browser decoded."""
    driver.execute_script("const v = document.getElementById('video'); v.muted = true; v.play();")
    WebDriverWait(driver, 30, poll_frequency=0.1).until(
        lambda d: d.execute_script("const v = document.getElementById('video'); return v.ended || v.error;"))
    state: dict[str, Any] = driver.execute_script(
        "const v = document.getElementById('video');"
        "return {error: v.error && v.error.code, duration: v.duration, width: v.videoWidth, height: v.videoHeight,"
        " audioBytes: v.webkitAudioDecodedByteCount, videoBytes: v.webkitVideoDecodedByteCount};")
    return state


def _submit_and_play(driver: Any, screenshot: Path) -> dict[str, Any]:
    """Submit the form, wait for the result, play it (:func:`_play`) and keep a screenshot of the page."""
    driver.find_element(By.ID, "submit").click()
    _wait_for_result(driver)
    state = _play(driver)
    driver.save_screenshot(str(screenshot))
    _artifact(screenshot)
    return state


def _upload_animate_play_download(server: str, browser: Any, tmp_path: Path) -> None:
    face = tmp_path / "grid still.png"
    speech = tmp_path / "grid speech.wav"
    face.write_bytes(image_bytes(grid_still(), "PNG"))
    speech.write_bytes(wav_bytes(grid_speech(SPEECH_S, 0.95)))
    browser.get(server + "/")
    assert browser.title == "talkface"
    WebDriverWait(browser, 10).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#size option")) == 3)
    browser.find_element(By.ID, "face").send_keys(str(face))
    browser.find_element(By.ID, "speech").send_keys(str(speech))
    shot = tmp_path / "serve_page_done.png"
    state = _submit_and_play(browser, shot)
    assert state["error"] is None, state
    assert abs(state["duration"] - SPEECH_S) < 0.25 and (state["width"], state["height"]) == (360, 288), state
    assert state["audioBytes"] > 0 and state["videoBytes"] > 0, state  # the browser decoded both tracks
    href = browser.find_element(By.ID, "download").get_attribute("href")
    assert href.startswith(server) and "download=true" in href
    with urllib.request.urlopen(href, timeout=30) as r:
        assert r.headers["Content-Type"] == "video/mp4"
        assert r.headers["Content-Disposition"].startswith("attachment")
        video = tmp_path / "downloaded.mp4"
        video.write_bytes(r.read())
    info = probe(video)
    assert info.has_video and info.has_audio and abs(info.duration_s - SPEECH_S) < 0.25, info
    assert shot.stat().st_size > 10_000


def _record_from_microphone(server: str, browser: Any, tmp_path: Path) -> None:
    face = tmp_path / "face.jpg"
    face.write_bytes(image_bytes(grid_still(), "JPEG", quality=92))
    browser.get(server + "/")
    browser.find_element(By.ID, "face").send_keys(str(face))
    record = browser.find_element(By.ID, "record")
    record.click()  # Chromium's fake microphone: a beeping tone
    WebDriverWait(browser, 10).until(lambda d: "on" in d.find_element(By.ID, "record").get_attribute("class"))
    time.sleep(1.2)
    record.click()
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "recording").is_displayed())
    browser.find_element(By.ID, "natural").click()
    state = _submit_and_play(browser, tmp_path / "serve_page_recorded.png")
    assert state["error"] is None and state["duration"] > 0.8 and state["audioBytes"] > 0, state


def test_browser_upload_record_play_download(server: str, browser: Any, tmp_path: Path) -> None:
    """Both flows in one test, so that a parallel run (pytest -n) starts one browser and one server."""
    _upload_animate_play_download(server, browser, tmp_path)
    _record_from_microphone(server, browser, tmp_path)
