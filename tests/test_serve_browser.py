"""The page in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by
selenium): it loads, Enter generates, the turns are laid out as a script, every word is tinted by
its probability, hovering shows the alternatives, clicking shows attention, errors show inline, and
a phone-width window needs no sideways scrolling. ``.ci/run`` installs the browser; without one
this module skips and says how to install it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_support import live_server, run_with_vectors

from textgen.serve import ServeConfig, create_app, load_registry

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is missing: pip install -e '.[dev]'")
if CHROMIUM is None or DRIVER is None:
    pytest.skip(
        "no headless Chromium here: apt-get install chromium chromium-driver (.ci/run does)", allow_module_level=True
    )

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def url(attention_run: Path) -> Iterator[str]:
    registry = load_registry((str(attention_run), str(run_with_vectors("lstm"))), "cpu")
    with live_server(create_app(registry, ServeConfig(max_length=400))) as address:
        yield address


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(DRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: Any, check: Any, seconds: float = 90) -> Any:
    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(check)


def open_page(driver: Any, url: str, run: str) -> None:
    driver.get(url)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#speaker option"))
    driver.find_element(By.CSS_SELECTOR, f"#run option[value='{run}']").click()


def set_value(driver: Any, field: str, value: str) -> None:
    box = driver.find_element(By.ID, field)
    box.clear()
    if value:
        box.send_keys(value)


def generate_with_enter(driver: Any, **fields: str) -> None:
    for field, value in fields.items():
        set_value(driver, field, value)
    driver.find_element(By.ID, "seed").send_keys(Keys.ENTER)  # Enter in any box generates
    wait(
        driver,
        lambda d: (
            d.find_element(By.ID, "status").text.startswith("done") or d.find_element(By.ID, "error").is_displayed()
        ),
    )


def test_generate_draws_a_tinted_script_with_popups(browser: Any, url: str) -> None:
    open_page(browser, url, "attention")
    generate_with_enter(browser, length="60", seed="4", max_turns="4", prime="")
    assert not browser.find_element(By.ID, "error").is_displayed()
    want = httpx.post(
        f"{url}/api/generate",
        json={"run": "attention", "prime": "theo", "length": 60, "seed": 4, "max_turns": 4, "explain": True},
        timeout=60,
    ).json()["samples"][0]
    # the turns: one paragraph per turn, with the words of the text; every speaker name in bold
    paragraphs = browser.find_elements(By.CSS_SELECTOR, ".script p.turn")
    turns = [t for t in want["text"].strip().split("\n\n") if t]
    assert len(paragraphs) == len(turns) > 1
    for p, turn in zip(paragraphs, turns, strict=True):
        drawn = p.text.replace("¶", "").replace("↵", "").replace("\n", " ").split()
        assert drawn == turn.replace("\n", " ").split()
    first = paragraphs[0].find_element(By.CSS_SELECTOR, ".tok")
    assert first.tag_name == "b" and first.text == "Theo:"
    speakers = browser.find_elements(By.CSS_SELECTOR, ".script b.tok.speaker")
    assert len(speakers) == 1 + sum(t.endswith(":") and not t.startswith("||") for t in want["tokens"])
    assert all(s.value_of_css_property("font-weight") in ("700", "bold") for s in speakers)
    laughs = browser.find_elements(By.CSS_SELECTOR, ".script .tok.laugh")
    assert [x.text for x in laughs] == ["[laughter]"] * want["tokens"].count("<laugh>")
    # every generated token is tinted by its probability: the likelier, the greener
    tokens = browser.find_elements(By.CSS_SELECTOR, ".tok:not(.prime)")
    assert len(tokens) == len(want["tokens"])
    colours = [t.value_of_css_property("background-color") for t in tokens]
    assert all(c not in ("rgba(0, 0, 0, 0)", "transparent") for c in colours)
    probs = want["probs"]
    assert colours[probs.index(min(probs))] != colours[probs.index(max(probs))]
    # hover: probability, entropy and the alternatives
    i = probs.index(min(probs))
    ActionChains(browser).move_to_element(tokens[i]).perform()
    popup = wait(
        browser, lambda d: d.find_element(By.ID, "popup") if d.find_element(By.ID, "popup").is_displayed() else None
    )
    assert "entropy" in popup.text and "bits" in popup.text
    alternatives = popup.find_elements(By.CSS_SELECTOR, ".alts li")
    assert len(alternatives) == len(want["alternatives"][i])
    assert f"{100 * probs[i]:.2g}"[:3] in popup.text.replace("%", "")
    # click (or tap): pinned, with the attention heat strip over the words before it
    tokens[i].click()
    cells = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#popup .attention .cell"))
    assert cells and all(c.value_of_css_property("background-color").startswith("rgba(37, 99, 235") for c in cells)
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    wait(browser, lambda d: not d.find_element(By.ID, "popup").is_displayed())
    assert "reached the turn limit" in browser.find_element(By.CSS_SELECTOR, ".stop-reason").text


def test_errors_show_inline_with_suggestions(browser: Any, url: str) -> None:
    open_page(browser, url, "lstm")
    generate_with_enter(browser, prime="mayya: hi", seed="1", length="20")
    error = browser.find_element(By.ID, "error")
    assert error.is_displayed() and "not in the vocabulary" in error.text
    suggestion = error.find_element(By.CSS_SELECTOR, "button.suggestion")
    suggestion.click()
    assert "mayya" not in browser.find_element(By.ID, "prime").get_attribute("value")
    generate_with_enter(browser, length="0")
    assert "length must be in [1, 100000]" in browser.find_element(By.ID, "error").text


def test_the_neighbours_panel(browser: Any, url: str) -> None:
    open_page(browser, url, "lstm")
    box = browser.find_element(By.ID, "word")
    box.clear()
    box.send_keys("theo", Keys.ENTER)
    rows = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#neighbours li"))
    want = httpx.get(f"{url}/api/similar", params={"run": "lstm", "word": "theo", "n": 12}).json()
    assert [r.find_element(By.CSS_SELECTOR, "button").text for r in rows] == [n["word"] for n in want["neighbours"]]
    rows[0].find_element(By.CSS_SELECTOR, "button").click()
    assert browser.find_element(By.ID, "prime").get_attribute("value") == want["neighbours"][0]["word"]


def test_a_phone_width_window_reads_without_sideways_scrolling(browser: Any, url: str, tmp_path: Path) -> None:
    metrics = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        open_page(browser, url, "lstm")
        generate_with_enter(browser, prime="", length="80", seed="2", max_turns="")
        assert browser.find_elements(By.CSS_SELECTOR, ".script p.turn")
        width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width
        tokens = browser.find_elements(By.CSS_SELECTOR, ".tok:not(.prime)")
        tokens[len(tokens) // 2].click()  # a tap pins the popup
        popup = browser.find_element(By.ID, "popup")
        assert popup.is_displayed() and popup.rect["x"] >= 0 and popup.rect["x"] + popup.rect["width"] <= 390
        browser.save_screenshot(str(tmp_path / "phone.png"))
        assert (tmp_path / "phone.png").stat().st_size > 0
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_the_cache_and_ngram_boxes_send_generates_options(browser: Any, url: str) -> None:
    open_page(browser, url, "lstm")
    boxes = [browser.find_element(By.ID, name) for name in ("cache", "ngram")]
    assert all(b.is_enabled() and not b.is_selected() for b in boxes)  # off by default, as in `textgen generate`
    for box in boxes:
        box.click()
    generate_with_enter(browser, length="40", seed="3", prime="theo")
    assert not browser.find_element(By.ID, "error").is_displayed()
    request = {"run": "lstm", "prime": "theo", "length": 40, "seed": 3}
    plain, mixed = (
        httpx.post(f"{url}/api/generate", json={**request, "cache": on, "ngram": on}, timeout=60).json()["samples"][0]
        for on in (False, True)
    )
    assert plain["probs"] != mixed["probs"]
    drawn = browser.find_elements(By.CSS_SELECTOR, ".tok:not(.prime)")
    assert len(drawn) == len(mixed["tokens"])
    shown = " ".join(p.text for p in browser.find_elements(By.CSS_SELECTOR, ".script p.turn"))
    assert shown.replace("¶", "").replace("↵", "").split() == mixed["text"].replace("\n", " ").split()
