"""The website widget in headless Chromium (Debian's chromium + chromium-driver, driven by
Selenium), against the real bot serving /chat.

Without Chromium, chromedriver, the widget bundle or axe-core these tests are SKIPPED
locally and FAIL when CI=true (``make test`` installs and builds all of them).
Screenshots go to WIDGET_SCREENSHOT_DIR (default var/results/widget); the ones in docs/
are made with ``WIDGET_SCREENSHOT_DIR=docs``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.bot import PROJECT_ROOT, BotServer
from tests.support.ci import running_in_ci

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = Path(os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
WEB = PROJECT_ROOT / "bot" / "web"
BUNDLE = WEB / "dist" / "lwoo-chat.js"
AXE = WEB / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(os.environ.get("WIDGET_SCREENSHOT_DIR",
                                  PROJECT_ROOT / "var" / "results" / "widget"))
STORAGE_KEY = "lwoo-chat:v1"
WAIT_S = 30
LWOO_ANSWER = "Leerwegondersteunend onderwijs"
GREETING = "Ik ben de LWOO-assistent"
XSS_PROBE = '<img src=x onerror="window.__lwooXss=1">'


def require(ok: bool, what: str) -> None:
    if ok:
        return
    if running_in_ci():
        pytest.fail(f"{what}; CI=true requires it (run `make browser widget`)", pytrace=False)
    pytest.skip(f"{what}; run `make browser widget`, or set CI=true to make this a failure")


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    require(CHROMIUM.exists(), f"Chromium not found at {CHROMIUM}")
    require(CHROMEDRIVER.exists(), f"chromedriver not found at {CHROMEDRIVER}")
    require(BUNDLE.exists(), f"widget bundle {BUNDLE.relative_to(PROJECT_ROOT)} not built")
    require(AXE.exists(), "axe-core not installed in bot/web/node_modules")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        require(False, "selenium is not installed")
        raise
    profile = tempfile.TemporaryDirectory(prefix="lwoo-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile.name}",
                 "--window-size=1280,900", "--lang=nl-NL"):
        options.add_argument(flag)
    chrome = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    chrome.set_script_timeout(60)
    try:
        yield chrome
    finally:
        chrome.quit()
        profile.cleanup()


@pytest.fixture
def page(driver: Any, bot: BotServer) -> Callable[..., Any]:
    """Open /chat in a fresh tab (so a fresh sessionStorage) at the given width."""

    def open_page(width: int = 1280, height: int = 900) -> Any:
        old = driver.current_window_handle
        driver.switch_to.new_window("tab")
        driver.switch_to.window(old)
        driver.close()
        driver.switch_to.window(driver.window_handles[-1])
        # exact CSS viewport (a headless window is never narrower than 500 px)
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1,
            "mobile": width < 600})
        driver.get(bot.base_url + "/chat")
        wait(driver, lambda d: launcher(d).is_displayed())
        return driver

    return open_page


# -- helpers ----------------------------------------------------------------------------

def wait(driver: Any, condition: Callable[[Any], Any], timeout: float = WAIT_S) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # an element re-rendered between find and read: look again
    return WebDriverWait(driver, timeout, ignored_exceptions=(
        StaleElementReferenceException,)).until(condition)


def css(driver: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def all_css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def launcher(driver: Any) -> Any:
    return css(driver, ".lwoo-launcher")


def text_of(element: Any) -> str:
    return str(element.get_attribute("textContent") or "")


def texts(driver: Any, selector: str) -> list[str]:
    """The textContent of every match, read in one step in the page: the widget
    re-renders while answers arrive, so element handles can go stale between a find
    and a read."""
    return [str(t) for t in driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), e => e.textContent)",
        selector)]


def bot_texts(driver: Any) -> list[str]:
    return texts(driver, ".lwoo-msg--bot .lwoo-bubble")


def user_texts(driver: Any) -> list[str]:
    return texts(driver, ".lwoo-msg--user .lwoo-bubble")


def idle(driver: Any) -> bool:
    return not css(driver, ".lwoo-typing").is_displayed()


def wait_for_answer(driver: Any, before: int) -> str:
    wait(driver, lambda d: len(bot_texts(d)) > before and idle(d))
    time.sleep(0.3)  # the turn's last message and its feedback buttons
    return "\n".join(bot_texts(driver)[before:])


def start_chat(driver: Any) -> None:
    """Open the panel, accept the privacy notice, wait for the greeting."""
    launcher(driver).click()
    notice = css(driver, ".lwoo-privacy")
    assert notice.is_displayed() and "computerprogramma" in notice.text
    css(driver, ".lwoo-accept").click()
    wait(driver, lambda d: any(GREETING in t for t in bot_texts(d)) and idle(d))


def ask(driver: Any, question: str) -> str:
    from selenium.webdriver.common.keys import Keys

    before = len(bot_texts(driver))
    box = css(driver, ".lwoo-input")
    box.send_keys(question)
    box.send_keys(Keys.ENTER)
    return wait_for_answer(driver, before)


def storage(driver: Any) -> dict[str, Any]:
    raw = driver.execute_script("return sessionStorage.getItem(arguments[0])", STORAGE_KEY)
    return json.loads(raw) if raw else {}


def active(driver: Any) -> Any:
    return driver.switch_to.active_element


def has_visible_focus(driver: Any) -> bool:
    style = driver.execute_script(
        "const s = getComputedStyle(document.activeElement);"
        "return [s.outlineStyle, s.outlineWidth, s.boxShadow];")
    outline, width, shadow = style
    return (outline != "none" and width not in ("0px", "")) or shadow not in ("none", "")


def run_axe(driver: Any) -> list[dict[str, Any]]:
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact,"
        " help: v.help, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))))"
        ".catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e)}]));")
    return [v for v in result if v["impact"] in ("serious", "critical")]


# -- tests ------------------------------------------------------------------------------

def test_ask_a_question_and_see_the_answer(page: Any) -> None:
    driver = page()
    assert not css(driver, ".lwoo-panel").is_displayed()
    start_chat(driver)
    greeting = css(driver, ".lwoo-msg--bot")
    assert all_css(greeting, ".lwoo-quick-button")  # suggestions with the greeting
    driver.execute_script(
        "window.__typingSeen = false; const t = document.querySelector('.lwoo-typing');"
        "new MutationObserver(() => { if (!t.hidden) window.__typingSeen = true; })"
        ".observe(t, {attributes: true});")
    answer = ask(driver, "Wat is lwoo?")
    assert LWOO_ANSWER in answer
    assert user_texts(driver)[-1].endswith("Wat is lwoo?")
    assert driver.execute_script("return window.__typingSeen") is True
    assert css(driver, ".lwoo-log").get_attribute("aria-live") == "polite"
    # the answer (not the greeting) can be rated
    last = all_css(driver, ".lwoo-msg--bot")[-1]
    buttons = all_css(last, ".lwoo-feedback-button")
    assert [b.get_attribute("aria-label") for b in buttons] == [
        "Ja, dit antwoord hielp mij", "Nee, dit antwoord hielp mij niet"]
    assert not all_css(greeting, ".lwoo-feedback-button")
    buttons[0].click()
    wait(driver, lambda d: any("Bedankt voor uw reactie" in text_of(e)
                               for e in all_css(d, ".lwoo-feedback")))
    rated = [m for m in storage(driver)["history"] if m.get("feedback") == "yes"]
    assert len(rated) == 1 and LWOO_ANSWER in rated[0]["text"]


def test_click_a_suggestion(page: Any) -> None:
    driver = page()
    start_chat(driver)
    before = len(bot_texts(driver))
    suggestion = next(b for b in all_css(driver, ".lwoo-quick-button")
                      if b.text == "Wat is lwoo?")
    suggestion.click()
    answer = wait_for_answer(driver, before)
    assert LWOO_ANSWER in answer
    assert user_texts(driver)[-1].endswith("Wat is lwoo?")  # the title, not the payload
    assert "faq_topic" not in " ".join(user_texts(driver))
    # the answer brings its own follow-up suggestions; the old ones are gone
    titles = [b.text for b in all_css(driver, ".lwoo-quick-button")]
    assert titles and "Is lwoo een rugzak?" in titles
    assert active(driver) == css(driver, ".lwoo-input")


def test_reload_keeps_the_conversation_in_this_tab_only(page: Any, bot: BotServer) -> None:
    driver = page()
    start_chat(driver)
    ask(driver, "Wat is lwoo?")
    shown = bot_texts(driver), user_texts(driver)
    token = storage(driver)["token"]
    driver.refresh()
    wait(driver, lambda d: css(d, ".lwoo-panel").is_displayed())
    assert (bot_texts(driver), user_texts(driver)) == shown
    wait(driver, lambda d: storage(d).get("token") and not css(d, ".lwoo-alert").is_displayed())
    # the server resumed the same conversation (same id inside the new token)
    assert storage(driver)["token"].split(".")[0] == token.split(".")[0]
    assert "Waarvoor is het lwoo-budget" in "".join(
        b.text for b in all_css(driver, ".lwoo-quick-button"))
    assert "verlopen" not in " ".join(text_of(e) for e in all_css(driver, ".lwoo-msg--system"))
    assert ask(driver, "Dank u wel")
    # another tab (the next person on a shared computer) starts empty
    driver.switch_to.new_window("tab")
    driver.get(bot.base_url + "/chat")
    wait(driver, lambda d: launcher(d).is_displayed())
    assert storage(driver) == {}
    launcher(driver).click()
    assert css(driver, ".lwoo-privacy").is_displayed()
    assert bot_texts(driver) == []
    driver.close()
    driver.switch_to.window(driver.window_handles[-1])


def test_clear_conversation_forgets_everything(page: Any) -> None:
    driver = page()
    start_chat(driver)
    ask(driver, "Wat is lwoo?")
    css(driver, ".lwoo-clear").click()
    wait(driver, lambda d: css(d, ".lwoo-privacy").is_displayed())
    assert bot_texts(driver) == []
    assert storage(driver).get("history") == [] and not storage(driver).get("token")
    assert active(driver) == css(driver, ".lwoo-accept")


def test_xss_probe_is_shown_as_text_not_run(page: Any) -> None:
    driver = page()
    start_chat(driver)
    ask(driver, XSS_PROBE)
    assert user_texts(driver)[-1].endswith(XSS_PROBE)
    assert driver.execute_script("return window.__lwooXss") is None
    assert not all_css(driver, ".lwoo-chat img")

    # bot text takes the same path: put hostile "bot" text in the stored history
    hostile = ('<img src=x onerror="window.__lwooXss=2"> <script>window.__lwooXss=3</script> '
               'javascript:window.__lwooXss=4 <a href="javascript:window.__lwooXss=5">klik</a> '
               'zie https://www.compaen.example/lwoo"onmouseover="window.__lwooXss=6 en '
               'data:text/html,<b>x</b>')
    driver.execute_script(
        "const s = JSON.parse(sessionStorage.getItem(arguments[0]));"
        "s.history.push({who: 'bot', text: arguments[1], quick: [{title: arguments[2],"
        " payload: '/greet'}]});"
        "sessionStorage.setItem(arguments[0], JSON.stringify(s));",
        STORAGE_KEY, hostile, '<b onmouseover="window.__lwooXss=7">Knop</b>')
    driver.refresh()
    wait(driver, lambda d: any("javascript:" in t for t in bot_texts(d)))
    last = all_css(driver, ".lwoo-msg--bot")[-1]
    assert "<img src=x" in text_of(last) and "<script>" in text_of(last)
    assert not all_css(driver, ".lwoo-chat img, .lwoo-chat script, .lwoo-chat b")
    links = all_css(last, "a")
    assert len(links) == 1
    href = links[0].get_attribute("href")
    assert href.startswith("https://www.compaen.example/lwoo")
    assert "onmouseover" not in (links[0].get_attribute("outerHTML").split(">")[0])
    assert set(links[0].get_attribute("rel").split()) >= {"noopener", "noreferrer"}
    for link in all_css(driver, ".lwoo-chat a"):
        assert link.get_attribute("href").startswith(("http://", "https://"))
    assert all_css(last, ".lwoo-quick-button")[0].text.startswith("<b onmouseover")
    for element in all_css(driver, ".lwoo-chat *"):
        assert not any(a.startswith("on") for a in driver.execute_script(
            "return arguments[0].getAttributeNames()", element))
    assert driver.execute_script("return window.__lwooXss") is None


def keyboard(driver: Any) -> tuple[Any, Any]:
    """press(*keys) and shift_tab() for a keyboard-only parent."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    def press(*keys: str) -> None:
        ActionChains(driver).send_keys(*keys).perform()

    def shift_tab() -> None:
        ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(
            Keys.SHIFT).perform()

    return press, shift_tab


def test_keyboard_only(page: Any) -> None:
    from selenium.webdriver.common.keys import Keys

    driver = page()
    press, shift_tab = keyboard(driver)

    for _ in range(5):
        press(Keys.TAB)
        if active(driver) == launcher(driver):
            break
    assert active(driver) == launcher(driver)
    assert has_visible_focus(driver)
    press(Keys.ENTER)
    assert css(driver, ".lwoo-panel").is_displayed()
    assert launcher(driver).get_attribute("aria-expanded") == "true"
    assert active(driver) == css(driver, ".lwoo-accept")
    assert has_visible_focus(driver)
    press(Keys.ENTER)
    wait(driver, lambda d: any(GREETING in t for t in bot_texts(d)) and idle(d))
    assert active(driver) == css(driver, ".lwoo-input")
    before = len(bot_texts(driver))
    press("Wat is lwoo?", Keys.ENTER)
    assert LWOO_ANSWER in wait_for_answer(driver, before)

    # back from the input: first the feedback buttons of the answer, then its suggestions
    shift_tab()
    shift_tab()
    assert "lwoo-feedback-yes" in active(driver).get_attribute("class")
    assert has_visible_focus(driver)
    press(Keys.ENTER)
    wait(driver, lambda d: "lwoo-feedback-thanks" in active(d).get_attribute("class"))
    for _ in range(6):
        shift_tab()
        if "lwoo-quick-button" in (active(driver).get_attribute("class") or ""):
            break
    chosen = active(driver)
    assert "lwoo-quick-button" in chosen.get_attribute("class")
    assert has_visible_focus(driver)
    title = chosen.text
    before = len(bot_texts(driver))
    press(Keys.ENTER)
    assert wait_for_answer(driver, before)
    assert user_texts(driver)[-1].endswith(title)
    assert active(driver) == css(driver, ".lwoo-input")
    press(Keys.ESCAPE)
    assert not css(driver, ".lwoo-panel").is_displayed()
    assert active(driver) == launcher(driver)


def test_offline_state_is_shown(page: Any) -> None:
    driver = page()
    start_chat(driver)
    driver.execute_cdp_cmd("Network.enable", {})
    offline = {"offline": True, "latency": 0, "downloadThroughput": -1,
               "uploadThroughput": -1}
    try:
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", offline)
        wait(driver, lambda d: css(d, ".lwoo-alert").is_displayed())
        alert = css(driver, ".lwoo-alert")
        assert "Geen verbinding" in alert.text
        assert alert.get_attribute("role") == "alert"
    finally:
        driver.execute_cdp_cmd("Network.emulateNetworkConditions",
                               {**offline, "offline": False})
    wait(driver, lambda d: not css(d, ".lwoo-alert").is_displayed())
    assert LWOO_ANSWER in ask(driver, "Wat is lwoo?")


def test_small_screen_and_axe_scan(page: Any) -> None:
    problems: dict[str, list[dict[str, Any]]] = {}
    # desktop: closed, privacy notice, conversation
    driver = page()
    problems["closed"] = run_axe(driver)
    launcher(driver).click()
    problems["privacy notice"] = run_axe(driver)
    css(driver, ".lwoo-accept").click()
    wait(driver, lambda d: any(GREETING in t for t in bot_texts(d)) and idle(d))
    ask(driver, "Wat is lwoo?")
    problems["conversation"] = run_axe(driver)
    # 320 px wide (WCAG reflow): no horizontal scrolling, everything reachable
    driver = page(320, 640)
    start_chat(driver)
    ask(driver, "Wat is lwoo?")
    assert driver.execute_script("return window.innerWidth") == 320
    assert driver.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth")
    panel = css(driver, ".lwoo-panel").rect
    assert panel["x"] >= 0 and panel["x"] + panel["width"] <= 320
    assert css(driver, ".lwoo-send").is_displayed()
    problems["320 px"] = run_axe(driver)
    assert {k: v for k, v in problems.items() if v} == {}


@pytest.mark.parametrize("name,width,height", [("desktop", 1280, 800), ("mobile", 360, 740)])
def test_screenshots(page: Any, name: str, width: int, height: int) -> None:
    driver = page(width, height)
    start_chat(driver)
    ask(driver, "Wat is lwoo?")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"widget-{name}.png"
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000


# -- languages: the menu, right to left (issue 16) --------------------------------------

ARABIC = "ar"
# an Arabic answer with the Dutch terms kept (as the translations write them); the short
# one fits on one line, so the reading order can be measured
ARABIC_ANSWER = ("lwoo (leerwegondersteunend onderwijs) هو دعم إضافي في vmbo. يتحدث معكم "
                 "الـ zorgcoördinator عن handelingsplan طفلكم.")
ARABIC_SHORT = "يتحدث mentor معكم."
ARABIC_QUESTION = "ما هو lwoo؟"


def menu_options(driver: Any) -> list[Any]:
    return all_css(driver, ".lwoo-lang-option")


def language_toggle(driver: Any) -> Any:
    return css(driver, ".lwoo-lang-button")


def root_language(driver: Any) -> tuple[str, str]:
    root = css(driver, ".lwoo-chat")
    return root.get_attribute("lang"), root.get_attribute("dir")


def computed(driver: Any, element: Any, prop: str) -> str:
    return str(driver.execute_script(
        "return getComputedStyle(arguments[0]).getPropertyValue(arguments[1])", element, prop))


def spy_on_sent_frames(driver: Any) -> None:
    """Record what the widget sends over its WebSocket (socket.io frames)."""
    driver.execute_script(
        "window.__sent = []; const send = WebSocket.prototype.send;"
        "WebSocket.prototype.send = function (data) {"
        "  window.__sent.push(String(data)); return send.call(this, data); };")


def sent_messages(driver: Any) -> list[str]:
    """The ``message`` of every user_uttered the widget sent, in order."""
    found = []
    for frame in driver.execute_script("return window.__sent || []"):
        if frame.startswith("42"):  # socket.io event
            event, *args = json.loads(frame[2:])
            if event == "user_uttered" and args and isinstance(args[0], dict):
                found.append(str(args[0].get("message")))
    return found


def test_language_menu_with_the_keyboard(page: Any) -> None:
    from selenium.webdriver.common.keys import Keys

    driver = page()
    press, shift_tab = keyboard(driver)

    def focused_option() -> str:
        return str(active(driver).get_attribute("data-code"))

    wait(driver, lambda d: len(menu_options(d)) == 7)  # texts.json arrived
    assert [text_of(o) for o in menu_options(driver)] == [
        "Nederlands✓", "Eenvoudig Nederlands✓", "English✓", "Türkçe✓", "العربية✓",
        "Polski✓", "Українська✓"]  # each in its own language (✓ is hidden until chosen)
    assert [o.get_attribute("lang") for o in menu_options(driver)] == [
        "nl", "nl", "en", "tr", "ar", "pl", "uk"]
    for _ in range(5):
        press(Keys.TAB)
        if active(driver) == launcher(driver):
            break
    press(Keys.ENTER)
    assert active(driver) == css(driver, ".lwoo-accept")
    # the menu is in the header, before the privacy notice: a parent can read the notice
    # in their own language before anything is sent
    shift_tab()
    shift_tab()
    toggle = language_toggle(driver)
    assert active(driver) == toggle
    assert has_visible_focus(driver)
    assert toggle.get_attribute("aria-expanded") == "false"
    assert text_of(toggle).endswith("Taal: Nederlands")  # its name holds what it shows
    press(Keys.ENTER)
    assert toggle.get_attribute("aria-expanded") == "true"
    assert css(driver, ".lwoo-lang-list").is_displayed()
    assert focused_option() == "nl"  # the current language
    assert active(driver).get_attribute("aria-current") == "true"
    assert has_visible_focus(driver)
    press(Keys.ARROW_DOWN)
    assert focused_option() == "nl-b1"
    press(Keys.ARROW_UP, Keys.ARROW_UP)
    assert focused_option() == "uk"  # wraps around
    press(Keys.HOME)
    assert focused_option() == "nl"
    press(Keys.END)
    assert focused_option() == "uk"
    press(Keys.ESCAPE)  # closes the menu, not the panel
    assert not css(driver, ".lwoo-lang-list").is_displayed()
    assert css(driver, ".lwoo-panel").is_displayed()
    assert active(driver) == toggle

    # choose Arabic: the labels and the direction change at once
    press(Keys.ENTER)
    press(Keys.ARROW_DOWN, Keys.ARROW_DOWN, Keys.ARROW_DOWN, Keys.ARROW_DOWN)
    assert focused_option() == ARABIC
    press(Keys.ENTER)
    assert not css(driver, ".lwoo-lang-list").is_displayed()
    assert active(driver) == toggle
    assert root_language(driver) == ("ar", "rtl")
    assert computed(driver, css(driver, ".lwoo-panel"), "direction") == "rtl"
    assert css(driver, ".lwoo-privacy-title").text == "قبل أن تبدأوا"
    assert css(driver, ".lwoo-accept").text == "موافقة، بدء الدردشة"
    assert "مسح المحادثة" in css(driver, ".lwoo-privacy").text
    assert text_of(toggle).endswith("اللغة: العربية")
    assert storage(driver)["language"] == ARABIC
    # the panel stays at the bottom right of the page
    panel = css(driver, ".lwoo-panel").rect
    assert panel["x"] + panel["width"] > driver.execute_script("return innerWidth") - 40

    # then English, and start the chat: the assistant hears the choice before the greeting
    press(Keys.ENTER)
    press(Keys.HOME, Keys.ARROW_DOWN, Keys.ARROW_DOWN)
    assert focused_option() == "en"
    press(Keys.ENTER)
    assert root_language(driver) == ("en", "ltr")
    assert css(driver, ".lwoo-privacy-title").text == "Before you start"
    spy_on_sent_frames(driver)
    press(Keys.TAB, Keys.TAB)  # the close button, then "Agree, start the chat"
    assert active(driver) == css(driver, ".lwoo-accept")
    press(Keys.ENTER)
    wait(driver, lambda d: len(sent_messages(d)) >= 2 and idle(d))
    assert sent_messages(driver)[:2] == ['/switch_language{"language":"en"}', "/greet"]
    assert css(driver, ".lwoo-input").get_attribute("placeholder") == (
        "Type your question about lwoo…")
    assert css(driver, ".lwoo-send").text == "Send"
    assert not user_texts(driver)  # the choice made before the chat is not a message


def plant(driver: Any, language: str, messages: list[dict[str, Any]],
          replace: bool = False) -> None:
    """Put ``messages`` in the tab's stored conversation (after it, or ``replace`` it), in
    ``language``, and reload: rendered exactly as live messages (the same renderMessage)."""
    driver.execute_script(
        "const s = JSON.parse(sessionStorage.getItem(arguments[0]));"
        "if (arguments[3]) s.history = [];"
        "s.history.push(...arguments[1]); s.language = arguments[2]; s.told = arguments[2];"
        "sessionStorage.setItem(arguments[0], JSON.stringify(s));",
        STORAGE_KEY, messages, language, replace)
    driver.refresh()
    wait(driver, lambda d: css(d, ".lwoo-panel").is_displayed()
         and root_language(d)[0] == language.split("-")[0])
    wait(driver, lambda d: storage(d).get("token") and idle(d))


def char_rects(driver: Any, element: Any, needle: str) -> list[dict[str, float]]:
    """The on-screen box of every character of ``needle`` in ``element``'s text, in
    logical (typed) order."""
    return list(driver.execute_script("""
        const [root, needle] = arguments;
        const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
        let all = "", nodes = [];
        while (walker.nextNode()) { nodes.push([walker.currentNode, all.length]);
                                    all += walker.currentNode.data; }
        const at = all.indexOf(needle);
        if (at < 0) return [];
        const rects = [];
        for (let i = at; i < at + needle.length; i++) {
          const [node, offset] = nodes.filter(([n, o]) => o <= i).pop();
          const range = document.createRange();
          range.setStart(node, i - offset); range.setEnd(node, i - offset + 1);
          const r = range.getBoundingClientRect();
          rects.push({left: r.left, right: r.right, top: r.top});
        }
        return rects;""", element, needle))


def test_arabic_conversation_renders_right_to_left(page: Any) -> None:
    driver = page()
    start_chat(driver)
    plant(driver, ARABIC, [
        {"who": "user", "text": ARABIC_QUESTION},
        {"who": "bot", "text": ARABIC_ANSWER, "lang": ARABIC},
        {"who": "bot", "text": ARABIC_SHORT, "lang": ARABIC, "feedback": "ask",
         "quick": [{"title": "ما هو rugzak؟", "payload": "/greet"}]},
    ], replace=True)
    assert root_language(driver) == ("ar", "rtl")
    assert css(driver, ".lwoo-title").text == "مساعد LWOO"
    box = css(driver, ".lwoo-input")
    assert box.get_attribute("placeholder") == "اكتبوا سؤالكم عن lwoo…"
    assert computed(driver, box, "direction") == "rtl"  # the placeholder reads right to left
    answer, short = all_css(driver, ".lwoo-msg--bot")
    for message in (answer, short):
        assert message.get_attribute("lang") == "ar"
        assert computed(driver, message, "direction") == "rtl"
        assert computed(driver, css(message, ".lwoo-bubble"), "direction") == "rtl"
    # the parent's own Arabic question reads right to left (dir=auto)
    question = all_css(driver, ".lwoo-msg--user .lwoo-bubble")[-1]
    assert driver.execute_script("return arguments[0].matches(':dir(rtl)')", question)

    # the Dutch terms are isolated and marked Dutch
    terms = {text_of(t): t for t in all_css(answer, "bdi")}
    assert {"lwoo", "vmbo", "zorgcoördinator", "handelingsplan"} <= set(terms)
    assert "leerwegondersteunend onderwijs" in terms
    for word in ("lwoo", "vmbo", "zorgcoördinator", "handelingsplan"):
        assert terms[word].get_attribute("lang") == "nl"
        assert computed(driver, terms[word], "direction") == "ltr"
    # ... and read correctly: the letters of a term left to right, the sentence around it
    # right to left, the full stop at the sentence's end (its left)
    bubble = css(short, ".lwoo-bubble")
    term = char_rects(driver, bubble, "mentor")
    before = char_rects(driver, bubble, "يتحدث")
    after = char_rects(driver, bubble, "معكم")
    stop = char_rects(driver, bubble, ".")
    assert len({round(r["top"]) for r in term + before + after + stop}) == 1  # one line
    assert [r["left"] for r in term] == sorted(r["left"] for r in term)  # m-e-n-t-o-r
    assert min(r["left"] for r in before) >= max(r["right"] for r in term) - 1
    assert max(r["right"] for r in after) <= min(r["left"] for r in term) + 1
    assert stop[0]["right"] <= min(r["left"] for r in after) + 1
    # the bubble starts at the right: the first word is at its right edge
    box = bubble.rect
    assert max(r["right"] for r in before) > box["x"] + box["width"] - 20
    # bot messages sit on the start side (right), the parent's on the left
    log = css(driver, ".lwoo-log").rect
    assert short.rect["x"] + short.rect["width"] > log["x"] + log["width"] - 24
    user = all_css(driver, ".lwoo-msg--user")[-1].rect
    assert user["x"] < log["x"] + 40  # (the scrollbar is on the left in RTL)
    # feedback and suggestions in Arabic
    assert [b.get_attribute("aria-label") for b in all_css(short, ".lwoo-feedback-button")] == [
        "نعم، أفادتني هذه الإجابة", "لا، لم تُفدني هذه الإجابة"]
    assert css(short, ".lwoo-quick").get_attribute("aria-label") == "اقتراحات"
    assert [text_of(t) for t in all_css(short, ".lwoo-quick-button")] == ["ما هو rugzak؟"]

    assert run_axe(driver) == []

    # a channel notice the server sends in Dutch stays a left-to-right Dutch message
    plant(driver, ARABIC, [{"who": "bot", "text": "Het gesprek is gewist.", "lang": "nl"}])
    notice = all_css(driver, ".lwoo-msg--bot")[-1]
    assert notice.get_attribute("lang") == "nl"
    assert computed(driver, notice, "direction") == "ltr"
    assert not all_css(notice, "bdi")
    # typed Dutch in the Arabic panel: the box takes the direction of what is typed
    box = css(driver, ".lwoo-input")
    box.send_keys("Wat is een OPP?")
    assert box.get_attribute("dir") == "auto"
    assert driver.execute_script("return arguments[0].matches(':dir(ltr)')", box)


def spy_on_received_frames(driver: Any) -> None:
    """Record what the server sends over the widget's WebSocket."""
    driver.execute_script(
        "window.__received = [];"
        "const d = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'onmessage');"
        "Object.defineProperty(WebSocket.prototype, 'onmessage', {configurable: true,"
        "  get() { return d.get.call(this); },"
        "  set(fn) { d.set.call(this, (e) => { window.__received.push(String(e.data));"
        "                                      return fn.call(this, e); }); }});")


def received_events(driver: Any, name: str) -> list[dict[str, Any]]:
    found = []
    for frame in driver.execute_script("return window.__received || []"):
        if frame.startswith("42"):
            event, *args = json.loads(frame[2:])
            if event == name and args and isinstance(args[0], dict):
                found.append(args[0])
    return found


def test_each_message_gets_the_language_the_server_gave_it(page: Any) -> None:
    """metadata.language of every bot message decides its lang/dir (a Dutch answer stays
    a left-to-right Dutch message inside an Arabic panel); the labels follow the language
    turn_done reports for the conversation."""
    driver = page()
    launcher(driver).click()
    wait(driver, lambda d: len(menu_options(d)) == 7)
    language_toggle(driver).click()
    next(o for o in menu_options(driver) if o.get_attribute("data-code") == ARABIC).click()
    assert root_language(driver) == ("ar", "rtl")
    spy_on_received_frames(driver)
    css(driver, ".lwoo-accept").click()
    wait(driver, lambda d: bot_texts(d) and idle(d))
    ask(driver, "Wat is lwoo?")
    sent = received_events(driver, "bot_uttered")
    assert sent and all(m["metadata"]["language"] in (
        "nl", "nl-b1", "en", "tr", "ar", "pl", "uk") for m in sent)
    shown = all_css(driver, ".lwoo-msg--bot")
    assert len(shown) == len(sent)
    for message, element in zip(sent, shown):
        language = message["metadata"]["language"]
        assert element.get_attribute("lang") == language.split("-")[0]
        assert computed(driver, element, "direction") == ("rtl" if language == ARABIC
                                                          else "ltr")
    reported = [d["language"] for d in received_events(driver, "turn_done") if "language" in d]
    expected = reported[-1] if reported else ARABIC  # nothing reported: the choice stays
    assert root_language(driver)[0] == expected.split("-")[0]


def choose_language(driver: Any, code: str) -> None:
    language_toggle(driver).click()
    next(o for o in menu_options(driver) if o.get_attribute("data-code") == code).click()


def bot_messages(driver: Any) -> list[dict[str, str]]:
    """lang, computed direction and text of every bot message, read in one step."""
    return list(driver.execute_script(
        "return Array.from(document.querySelectorAll('.lwoo-msg--bot'), m => ({"
        "lang: m.lang, dir: getComputedStyle(m).direction,"
        "text: m.querySelector('.lwoo-bubble') ? m.querySelector('.lwoo-bubble').textContent"
        " : ''}))"))


def has_arabic(text: str) -> bool:
    return any("\u0600" <= ch <= "\u06ff" for ch in text)


def test_a_live_arabic_conversation(page: Any) -> None:
    """The menu → Arabic: the real bot confirms and greets in Arabic, answers in Arabic
    with the Dutch terms kept, all right to left; halfway the parent goes back to Dutch
    with the menu, then types "English": the labels follow the conversation."""
    driver = page()
    launcher(driver).click()
    wait(driver, lambda d: len(menu_options(d)) == 7)
    choose_language(driver, ARABIC)
    css(driver, ".lwoo-accept").click()
    # the choice is sent first, then the greeting (with its suggestions) comes in Arabic
    wait(driver, lambda d: all_css(d, ".lwoo-quick-button") and idle(d))
    time.sleep(0.3)
    shown = bot_messages(driver)
    assert len(shown) >= 2
    assert all(m["lang"] == "ar" and m["dir"] == "rtl" and has_arabic(m["text"])
               for m in shown), shown
    assert root_language(driver) == ("ar", "rtl")
    assert any("LWOO" in m["text"] for m in shown)  # the greeting
    assert all(has_arabic(text_of(b)) for b in all_css(driver, ".lwoo-quick-button"))

    before = len(bot_texts(driver))
    answer = ask(driver, ARABIC_QUESTION)
    assert has_arabic(answer) and "lwoo" in answer
    new = bot_messages(driver)[before:]
    assert new and all(m["lang"] == "ar" and m["dir"] == "rtl" for m in new), new
    last = all_css(driver, ".lwoo-msg--bot")[-1]
    kept = [t for t in all_css(driver, ".lwoo-msg--bot bdi") if text_of(t) == "lwoo"]
    assert kept and all(t.get_attribute("lang") == "nl" for t in kept)
    assert [b.get_attribute("aria-label") for b in all_css(last, ".lwoo-feedback-button")] == [
        "نعم، أفادتني هذه الإجابة", "لا، لم تُفدني هذه الإجابة"]
    assert root_language(driver) == ("ar", "rtl")  # turn_done: the conversation is Arabic
    assert run_axe(driver) == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / "widget-arabic.png"
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000

    # halfway back to Dutch with the menu: the labels at once, the answers in Dutch
    before = len(bot_texts(driver))
    choose_language(driver, "nl")
    assert root_language(driver) == ("nl", "ltr")
    assert css(driver, ".lwoo-send").text == "Versturen"
    wait_for_answer(driver, before)
    assert user_texts(driver)[-1].endswith("Nederlands")
    assert bot_messages(driver)[-1]["lang"] == "nl"
    assert "Nederlands" in bot_texts(driver)[-1]
    assert LWOO_ANSWER in ask(driver, "Wat is lwoo?")
    # typed, not chosen: the assistant switches and the labels follow it
    ask(driver, "English")
    assert bot_messages(driver)[-1]["lang"] == "en"
    wait(driver, lambda d: root_language(d) == ("en", "ltr"))
    assert css(driver, ".lwoo-send").text == "Send"
    assert storage(driver)["language"] == "en"
