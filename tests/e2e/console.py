"""Drives the web console in headless Chromium through WebDriver (selenium), as an operator
would, and reports what the page showed as JSON on stdout; the Rust test (console.rs) checks the
report and the server's state after it.

    python console.py < plan.json

The plan names `url`, `shots` (a folder for screenshots), `mode` (`keys`: the API-key walk
through every page; `oidc`: sign-in through the identity provider; `https`: a call and the live
executions over HTTPS, the server's certificate pinned by `spki` and trusted by `ca_file`), and
the keys to use.
"""

import json
import os
import re
import ssl
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

plan = json.load(sys.stdin)
url = plan["url"]
report: dict = {}


def browser() -> webdriver.Chrome:
    o = webdriver.ChromeOptions()
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]:
        o.add_argument(a)
    o.binary_location = plan.get("chromium", "/usr/bin/chromium")
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if plan.get("spki"):
        # The test's own server certificate, trusted by its public key alone (HTTPS walk).
        o.add_argument(f"--ignore-certificate-errors-spki-list={plan['spki']}")
    o.add_experimental_option("prefs", {"download.default_directory": plan["shots"], "download.prompt_for_download": False})
    return webdriver.Chrome(service=Service(plan.get("chromedriver", "/usr/bin/chromedriver")), options=o)


d = browser()
wait = WebDriverWait(d, 20)


def css(sel: str):
    return wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, sel)))


def visible(sel: str):
    return wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, sel)))


def texts(sel: str) -> list[str]:
    return [e.text for e in d.find_elements(By.CSS_SELECTOR, sel)]


def shot(name: str) -> None:
    time.sleep(0.3)
    d.save_screenshot(f"{plan['shots']}/{name}.png")


def go(route: str) -> None:
    d.execute_script("location.hash = arguments[0]", route)


def settle(sel: str, timeout: float = 20) -> None:
    """Waits until no element matching `sel` (a loading marker) is left."""
    WebDriverWait(d, timeout).until(lambda _: not d.find_elements(By.CSS_SELECTOR, sel))


def api(method: str, path: str, key: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method, headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    context = ssl.create_default_context(cafile=plan["ca_file"]) if plan.get("ca_file") else None
    try:
        with urllib.request.urlopen(req, context=context) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def xss_flag():
    return d.execute_script("return window.__xss === undefined ? null : String(window.__xss)")


def sign_in_with_key(key: str) -> None:
    field = visible("#api-key")
    field.clear()
    field.send_keys(key)
    d.find_element(By.CSS_SELECTOR, "#signin-key button[type=submit]").click()
    css("#sign-out")


def try_word_count() -> None:
    """Calls word-count from its form; reports the answer and the page's check of its receipt."""
    go("#/tools/word-count")
    field = visible("#try-form [data-field=text]")
    field.send_keys("one two three\nfour")
    d.find_element(By.ID, "invoke").click()
    answer = css(".answer[data-outcome]")
    report["invoke_outcome"] = answer.get_attribute("data-outcome")
    report["invoke_output"] = json.loads(answer.find_element(By.CSS_SELECTOR, "pre.json").text)
    report["invoke_id"] = answer.find_element(By.CSS_SELECTOR, "a.execution-link").text
    WebDriverWait(d, 20).until(lambda _: d.find_element(By.CSS_SELECTOR, ".receipt").get_attribute("data-verified") != "pending")
    report["receipt_verified"] = d.find_element(By.CSS_SELECTOR, ".receipt").get_attribute("data-verified")


def walk_with_keys() -> None:
    d.get(url + "/ui/")
    visible("#api-key")
    report["signin_form"] = True
    report["key_help"] = css("#key-help").text
    shot("signin")
    # A wrong key is refused with a reason, and nothing is kept.
    visible("#api-key").send_keys("cordon_000000000000_wrong")
    d.find_element(By.CSS_SELECTOR, "#signin-key button[type=submit]").click()
    report["wrong_key"] = css("#signin-key .problem").text
    report["kept_after_wrong_key"] = d.execute_script("return sessionStorage.length")

    # Signed in from the keyboard alone: the key typed, Enter.
    field = visible("#api-key")
    field.clear()
    field.send_keys(plan["admin_key"] + Keys.ENTER)
    css("#sign-out")
    # On a fresh load, the first Tab reaches the skip link, which moves the focus to the
    # page's content.
    go("#/tools")
    d.refresh()
    css("table.tools")
    ActionChains(d).send_keys(Keys.TAB).perform()
    report["first_tab"] = d.execute_script("return document.activeElement.textContent")
    ActionChains(d).send_keys(Keys.ENTER).perform()
    report["after_skip"] = d.execute_script("return document.activeElement.id")
    report["nav_admin"] = [e.get_attribute("data-section") for e in d.find_elements(By.CSS_SELECTOR, "#nav a")]
    report["who"] = css("#who .me-name").text
    # The credential is in this tab's session storage, never a cookie.
    report["cookies"] = d.get_cookies()

    # Overview, loaded afresh: how much the layout shifts while its data arrives (the
    # browser's cumulative layout shift score, as Chromium measures it).
    go("#/overview")
    d.refresh()
    css(".chart-box svg")
    css("table.tool-stats")
    css("table.nodes")
    time.sleep(1)
    report["layout_shift"] = d.execute_script("""
        return new Promise((done) => {
          let total = 0;
          new PerformanceObserver((list) => {
            for (const e of list.getEntries()) if (!e.hadRecentInput) total += e.value;
          }).observe({ type: "layout-shift", buffered: true });
          setTimeout(() => done(total), 300);
        });""")
    css("table.tool-stats")
    report["overview_tiles"] = texts(".tile-value")
    report["overview_tools"] = texts("table.tool-stats tbody tr td:first-child")
    WebDriverWait(d, 20).until(lambda _: d.find_elements(By.CSS_SELECTOR, "#chain-state"))
    report["overview_chain"] = css("#chain-state").text
    css("table.nodes tbody tr[data-node]")
    report["overview_nodes"] = texts("table.nodes tbody tr")
    shot("overview")

    # Tools: the list, with the hostile description shown as text.
    go("#/tools")
    css("table.tools tbody tr")
    report["tools_listed"] = texts("table.tools a.tool-link")
    rows = d.find_elements(By.CSS_SELECTOR, "table.tools tbody tr")
    report["xss_description"] = next((r.find_element(By.CSS_SELECTOR, ".desc").text for r in rows if "xss-probe" in r.text), None)
    shot("tools")

    # One tool: try it from the form built from its schema; the receipt checks in the page.
    try_word_count()
    report["receipt_checks"] = texts(".receipt .checks li")
    # A policy in force and its history, with the change it made.
    css("#policy-text")
    report["policy_text"] = d.find_element(By.ID, "policy-text").text
    changes = d.find_elements(By.CSS_SELECTOR, ".history button[data-seq]")
    if changes:
        changes[0].click()
        css(".diff")
        report["policy_diff_added"] = texts(".diff .add")
        report["policy_diff_removed"] = texts(".diff .del")
    shot("tool")

    # Executions, live: a call made elsewhere appears without reloading.
    go("#/executions")
    css("table.executions")
    report["executions_first"] = texts("table.executions a.execution-link")[:5]
    time.sleep(1)
    status, made = api("POST", "/v1/tools/echo/invoke", plan["invoker_key"], {"live": True})
    report["live_invoke_status"] = status
    started = time.time()
    try:
        css(f"a.execution-link[data-id='{made['execution_id']}']")
        report["live_seconds"] = round(time.time() - started, 2)
    except TimeoutException:
        report["live_seconds"] = None
    shot("executions")

    # A call this tab did not make: its receipt is signed by the server now, checked here.
    go(f"#/executions/{made['execution_id']}")
    WebDriverWait(d, 20).until(lambda _: d.find_elements(By.CSS_SELECTOR, ".receipt[data-verified=yes], .receipt[data-verified=no]"))
    report["other_receipt"] = d.find_element(By.CSS_SELECTOR, ".receipt").get_attribute("data-verified")
    report["other_receipt_checks"] = texts(".receipt .checks li")

    # One execution: usage, identity and the checks made in the page.
    go(f"#/executions/{report['invoke_id']}")
    css(".integrity")
    WebDriverWait(d, 20).until(lambda _: all(c.get_attribute("class") in ("pass", "fail", "wait") for c in d.find_elements(By.CSS_SELECTOR, ".integrity > .checks li")) and len(d.find_elements(By.CSS_SELECTOR, ".integrity > .checks li")) == 2)
    WebDriverWait(d, 20).until(lambda _: d.find_element(By.CSS_SELECTOR, ".receipt").get_attribute("data-verified") != "pending")
    report["detail_checks"] = [c.get_attribute("class") for c in d.find_elements(By.CSS_SELECTOR, ".integrity > .checks li")]
    report["detail_receipt"] = d.find_element(By.CSS_SELECTOR, ".receipt").get_attribute("data-verified")
    report["detail_lead"] = css(".lead").text
    links = d.find_elements(By.CSS_SELECTOR, "a.trace-link")
    report["trace_link"] = links[0].get_attribute("href") if links else None
    shot("execution")

    # The hostile tool: its schema, output and error are text, and none of it runs.
    go("#/tools/xss-probe")
    visible("#try-form")
    report["xss_schema_label"] = css("#try-form .schema-title").text
    d.find_element(By.ID, "invoke").click()
    report["xss_output"] = css(".answer pre.json").text
    field = d.find_element(By.CSS_SELECTOR, "#try-form [data-field=fail]")
    field.send_keys("<script>window.__xss='input'</script>")
    d.find_element(By.ID, "invoke").click()
    WebDriverWait(d, 20).until(lambda _: d.find_elements(By.CSS_SELECTOR, ".answer pre.error-text"))
    report["xss_error"] = css(".answer pre.error-text").text
    # Its execution page shows the error too.
    xss_id = css(".answer a.execution-link").text
    go(f"#/executions/{xss_id}")
    report["xss_error_on_record"] = css("pre.error-text").text
    go("#/tools/xss-probe")
    css("#try-form")
    report["xss_flag"] = xss_flag()
    report["xss_injected_nodes"] = d.execute_script("return document.querySelectorAll('main img, main script, main b').length")
    shot("xss")

    # Quarantine from the page: the banner, and the next call refused.
    go("#/tools/echo")
    visible("#q-reason").send_keys("suspected exfiltration <b>ticket 42</b>")
    d.find_element(By.ID, "quarantine").click()
    report["quarantine_banner"] = css(".banner.bad").text
    visible("#try-form")
    d.find_element(By.ID, "invoke").click()
    report["quarantined_invoke"] = css(".result .problem").text
    shot("quarantined")

    # Audit: events, verification, an export of what is shown.
    go("#/audit")
    css("table.events tbody tr")
    report["audit_kinds"] = texts("table.events td:nth-child(3)")[:20]
    WebDriverWait(d, 20).until(lambda _: d.find_elements(By.CSS_SELECTOR, "#chain-state"))
    report["audit_chain"] = css("#chain-state").text
    report["export_href"] = d.find_element(By.ID, "export").get_attribute("href")
    # The export downloads what the page shows (a file made in the page, no second request).
    d.find_element(By.ID, "export").click()
    exported = os.path.join(plan["shots"], "cordon-audit.json")
    WebDriverWait(d, 20).until(lambda _: os.path.exists(exported) and os.path.getsize(exported) > 0)
    with open(exported, encoding="utf-8") as f:
        report["export_events"] = len(json.load(f))
    shot("audit")

    # Approvals: a call the decisions hold waits on the page, with its arguments; approved
    # there, it runs for its caller.
    holding = {"modules": [{"path": "hold.rego", "text": "package cordon\nimport rego.v1\ndefault allow := true\napproval := {\"approvers\": [\"role:admin\"], \"reason\": \"a person looks first\"} if input.arguments.text == \"hold this\"\n"}]}
    report["approvals_apply"] = api("PUT", "/v1/decisions", plan["admin_key"], holding)[0]
    status, held = api("POST", "/v1/tools/word-count/invoke", plan["invoker_key"], {"text": "hold this"})
    report["approvals_held"] = [status, held.get("status")]
    held_id = held.get("execution_id", "")
    go("#/approvals")
    row = f"table.approvals tr[data-approval='{held_id}']"
    css(row)
    report["approvals_row"] = css(row).text
    shot("approvals")
    css(row + " input").send_keys("looked at it")
    css(f"button[data-approve='{held_id}']").click()
    WebDriverWait(d, 20).until(lambda _: not d.find_elements(By.CSS_SELECTOR, row))
    def finished(_):
        view = api("GET", f"/v1/executions/{held_id}", plan["invoker_key"])[1]
        return view if view.get("status") == "finished" else None
    report["approvals_ran"] = WebDriverWait(d, 20).until(finished)
    report["approvals_remove"] = api("DELETE", "/v1/decisions", plan["admin_key"])[0]

    # Alerts: a test alert sent from the page is listed with its rule; a suspended caller is
    # listed, and lifted there.
    suspension = {"caller": "0123456789ab", "for_secs": 3600, "reason": "a console walk"}
    report["alerts_suspend"] = api("POST", "/v1/suspensions", plan["admin_key"], suspension)[0]
    go("#/alerts")
    css("#test-alert").click()
    report["alerts_row"] = css("table.alerts tr[data-rule='test']").text
    suspended = "table.suspensions tr[data-suspended='0123456789ab']"
    report["alerts_suspended_row"] = css(suspended).text
    shot("alerts")
    css("button[data-lift='0123456789ab']").click()
    WebDriverWait(d, 20).until(lambda _: not d.find_elements(By.CSS_SELECTOR, suspended))
    report["alerts_lifted"] = api("GET", "/v1/suspensions", plan["admin_key"])[1]

    # Keys: create one (its secret shown once), then revoke it.
    go("#/keys")
    visible("#k-name").send_keys("console-made")
    d.find_element(By.CSS_SELECTOR, "#k-role option[value=invoker]").click()
    d.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
    report["new_secret"] = css("#new-secret").text
    css("table.keys tr[data-key='console-made']")
    report["new_key_state"] = css("table.keys tr[data-key='console-made'] .badge").text
    shot("keys")
    report["new_key_whoami"] = api("GET", "/v1/whoami", report["new_secret"])
    revoke = css("button[data-revoke='console-made']")
    revoke.click()
    report["revoke_confirm_label"] = revoke.text
    revoke.click()
    def state_now(_):
        try:
            return d.find_element(By.CSS_SELECTOR, "table.keys tr[data-key='console-made'] .badge").text
        except Exception:  # noqa: BLE001 - the table is being redrawn
            return None

    WebDriverWait(d, 20).until(lambda _: state_now(_) not in (None, "active"))
    report["revoked_state"] = state_now(None)
    report["revoked_whoami"] = api("GET", "/v1/whoami", report["new_secret"])[0]

    # A phone's width.
    d.set_window_size(390, 844)
    go("#/executions")
    css("table.executions")
    shot("executions-phone")
    go("#/overview")
    css(".chart-box svg")
    shot("overview-phone")
    report["phone_overflow"] = d.execute_script("return document.documentElement.scrollWidth > window.innerWidth + 1")
    d.set_window_size(1280, 900)

    # Sign out: the credential is forgotten.
    d.find_element(By.ID, "sign-out").click()
    visible("#api-key")
    report["after_sign_out_storage"] = d.execute_script("return sessionStorage.length")

    # An invoker sees only what it may: tools, and no keys or record.
    sign_in_with_key(plan["invoker_key"])
    report["nav_invoker"] = [e.get_attribute("data-section") for e in d.find_elements(By.CSS_SELECTOR, "#nav a")]
    go("#/keys")
    report["invoker_keys_page"] = css("main .problem").text
    go("#/tools/word-count")
    visible("#try-form")
    report["invoker_sees_policy"] = bool(d.find_elements(By.ID, "policy-text"))
    report["invoker_sees_quarantine"] = bool(d.find_elements(By.ID, "quarantine-form"))


def walk_with_oidc() -> None:
    # A crafted answer this tab never asked for (no sign-in started, a forged state, a message
    # to show): refused as such, its message not shown, the address cleaned.
    d.get(url + "/ui/?error=access_denied&error_description=Call+the+helpdesk+at+evil&state=forged")
    report["forged_answer"] = css(".signin .problem").text
    report["forged_address"] = d.current_url
    button = visible("button.provider")
    report["provider_button"] = button.text
    shot("signin-oidc")
    button.click()
    css("#sign-out")
    report["who"] = css("#who .me-name").text
    report["roles"] = css("#who .badge.role").text
    report["address_after"] = d.current_url
    report["nav"] = [e.get_attribute("data-section") for e in d.find_elements(By.CSS_SELECTOR, "#nav a")]
    report["pkce_left"] = d.execute_script("return sessionStorage.getItem('cordon.pkce')")
    go("#/keys")
    css("table.keys")
    report["keys_listed"] = texts("table.keys .key-name")
    # A token is sent by this page only: nothing of it in a cookie or the address.
    report["cookies"] = d.get_cookies()
    d.find_element(By.ID, "sign-out").click()
    visible("#api-key")
    report["after_sign_out_storage"] = d.execute_script("return sessionStorage.length")


def walk_over_https() -> None:
    d.get(url + "/ui/")
    report["protocol"] = d.execute_script("return performance.getEntriesByType('navigation')[0].nextHopProtocol")
    report["secure_context"] = d.execute_script("return window.isSecureContext")
    sign_in_with_key(plan["admin_key"])
    report["who"] = css("#who .me-name").text
    # A call from the form, its receipt checked in the page (WebCrypto).
    try_word_count()
    # The live list of executions (an event stream over HTTP/2) shows a call made elsewhere.
    go("#/executions")
    css("table.executions")
    time.sleep(1)
    status, made = api("POST", "/v1/tools/echo/invoke", plan["invoker_key"], {"live": True})
    report["live_invoke_status"] = status
    try:
        css(f"a.execution-link[data-id='{made['execution_id']}']")
        report["live"] = True
    except TimeoutException:
        report["live"] = False
    shot("https")


try:
    if plan["mode"] == "keys":
        walk_with_keys()
    elif plan["mode"] == "https":
        walk_over_https()
    else:
        walk_with_oidc()
    report["xss_flag_end"] = xss_flag()
except Exception:
    shot("failure")
    print(json.dumps({"report so far": report, "page": d.find_element(By.TAG_NAME, "main").text[:2000]}), file=sys.stderr)
    raise
finally:
    # Script errors and refused resources; not the 4xx answers the walk provokes on purpose (a
    # wrong key, a quarantined tool) nor the 502 of a tool that failed, which Chromium logs too.
    report["console"] = [
        e["message"] for e in d.get_log("browser")
        if e["level"] in ("SEVERE", "WARNING")
        and not re.search(r"Failed to load resource: the server responded with a status of 4\d\d", e["message"])
        and not re.search(r"/invoke - Failed to load resource: the server responded with a status of 502", e["message"])
    ]
    d.quit()
    print(json.dumps(report["console"]), file=sys.stderr)
print(json.dumps(report))
