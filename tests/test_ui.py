"""The live UI: its API and pushes in-process, then `pulse ui` in Debian's headless Chromium
(driven by Selenium through chromedriver) over the frames of a real hour."""
import copy
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager

import pytest

from helpers import HOURS, REPO, free_port, stop_process

from pulse.io.stores import open_store

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
XSS = "<img src=x onerror=alert(1)>"
BUCKETS = ((2, 2), (3, 4), (5, 9), (10, 10**9))
# Headless Chromium on a machine without internet: without the networking flags it hangs.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--enable-unsafe-swiftshader", "--window-size=1400,1000")
# Records dialogs instead of opening them, so one would be seen, not block the page.
DIALOG_TRAP = ("window.__dialogs = [];"
               "for (const k of ['alert', 'confirm', 'prompt']) "
               "  window[k] = (m) => { window.__dialogs.push([k, String(m)]); };")


def shifted(frame, start):
  """A copy of frame moved to start at `start` (so a new id)."""
  out = copy.deepcopy(frame)
  out["window_end"] += start - out["window_start"]
  out["window_start"] = start
  out["id"] = f"{out['window_start']}-{out['window_end']}"
  return out


def buckets(histogram):
  return [sum(n for s, n in histogram.items() if lo <= int(s) <= hi) for lo, hi in BUCKETS]


def distinct_links(frame):
  pairs = set()
  for c in frame["clusters"]:
    members = set(c["members"])
    for link in c["links"]:
      if link["src"] != link["dst"] and {link["src"], link["dst"]} <= members:
        pairs.add(frozenset((link["src"], link["dst"])))
  return len(pairs)


# ---- in-process: the API and the push, no browser -------------------------------------

def test_api_lists_frames_and_pushes_new_ones(tmp_path):
  from pulse.ui.server import create_app
  frame = {"id": "0-600000", "window_start": 0, "window_end": 600_000, "edges": 3,
           "vertices": 4, "components": 1, "size_histogram": {"4": 1, "2": 5, "12": 2},
           "clusters": [{"id": "a", "size": 4, "hub": "a", "members": ["a", "b", "c", XSS],
                         "links": [{"src": "a", "dst": x, "type": "WatchEvent", "id": "1",
                                    "created_at": 1} for x in ("b", "c", XSS)]}]}
  sink = f"sqlite://{tmp_path}/frames.db"
  store = open_store(sink)
  store.write([frame])
  app, socketio, start = create_app(sink)
  start()
  http = app.test_client()
  listed = http.get("/api/frames").get_json()["frames"]
  assert [f["id"] for f in listed] == ["0-600000"] and listed[0]["largest"] == 12
  assert http.get("/api/frame?id=0-600000").get_json() == frame
  assert http.get("/api/frame?id=nope").status_code == 404
  page = http.get("/")
  assert page.status_code == 200 and b"/static/app.js" in page.data
  assert "default-src 'self'" in page.headers["Content-Security-Policy"]

  browser = socketio.test_client(app)
  later = shifted(frame, 1)
  store.write([later])
  deadline = time.monotonic() + 5
  pushed = []
  while not pushed and time.monotonic() < deadline:
    pushed = [m["args"][0] for m in browser.get_received() if m["name"] == "frame"]
    time.sleep(0.05)
  assert pushed and pushed[0] == later
  assert [f["id"] for f in http.get("/api/frames").get_json()["frames"]] == [
      "0-600000", later["id"]]
  browser.disconnect()
  store.close()


def test_buckets_are_by_size():
  # 5 components of 2, 1 of 4, 2 of 12: by size 2 | 3-4 | 5-9 | 10+.
  assert buckets({"2": 5, "4": 1, "12": 2}) == [5, 1, 0, 2]


# ---- pulse ui in headless Chromium -----------------------------------------------------

def _chromium_or_skip():
  missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
  try:
    import selenium  # noqa: F401
  except ImportError:
    missing.append("the selenium package")
  if missing:
    message = (f"needs {', '.join(missing)} (apt-get install chromium chromium-driver; "
               "pip install -e .[test])")
    if os.environ.get("CI"):
      pytest.fail(message)
    pytest.skip(message)


@contextmanager
def _time_limit(seconds):
  def expire(*_):
    raise TimeoutError(f"the UI test took over {seconds} s")
  previous = signal.signal(signal.SIGALRM, expire)
  signal.alarm(seconds)
  try:
    yield
  finally:
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@contextmanager
def _pulse_ui(sink, port, log_path):
  with open(log_path, "w") as log:
    server = subprocess.Popen(
        [sys.executable, "-m", "pulse.pipeline", "ui", "--sink", sink, "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
  try:
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
      try:
        urllib.request.urlopen(url, timeout=1).close()
        break
      except OSError:
        if server.poll() is not None or time.monotonic() > deadline:
          raise AssertionError("pulse ui did not start:\n" + open(log_path).read())
        time.sleep(0.1)
    yield url
  finally:
    stop_process(server)


@contextmanager
def _chromium(profile):
  from selenium import webdriver
  from selenium.webdriver.chrome.service import Service
  options = webdriver.ChromeOptions()
  options.binary_location = CHROMIUM
  for flag in CHROMIUM_FLAGS + (f"--user-data-dir={profile}",):
    options.add_argument(flag)
  options.set_capability("unhandledPromptBehavior", "ignore")   # a dialog fails below
  options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
  # Both paths given: Selenium Manager (which would download a driver) is never asked.
  driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
  try:
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(10)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": DIALOG_TRAP})
    yield driver
  finally:
    driver.quit()


def _wait(driver, what, check, timeout_s):
  """Poll the page's state until check(state) holds; returns (state, seconds taken)."""
  started = time.monotonic()
  while True:
    state = driver.execute_script("return window.pulse ? window.pulse.state() : null")
    if state and check(state):
      return state, time.monotonic() - started
    if time.monotonic() - started > timeout_s:
      raise AssertionError(f"{what}: not within {timeout_s} s; the page has {state}")
    time.sleep(0.02)


def _click_node(driver, login):
  """A real mouse click where the graph draws that node."""
  from selenium.webdriver.common.action_chains import ActionChains
  spot = driver.execute_script("return window.pulse.nodePosition(arguments[0])", login)
  assert spot, f"{login!r} is not drawn"
  box = driver.find_element("id", "graph")
  size = box.size
  (ActionChains(driver)        # offsets are from the element's centre
   .move_to_element_with_offset(box, round(spot["x"] - size["width"] / 2),
                                round(spot["y"] - size["height"] / 2))
   .click().perform())


@pytest.mark.servers
def test_live_ui_in_chromium(run_pulse, tmp_path):
  _chromium_or_skip()
  with _time_limit(150):
    frames = run_pulse(HOURS["2011"]).frames
    sink = f"sqlite://{tmp_path}/ui.db"
    store = open_store(sink)
    store.write(frames)
    busiest = max(frames, key=lambda f: sum(c["size"] for c in f["clusters"]))
    period = frames[1]["window_start"] - frames[0]["window_start"]
    after = lambda k: frames[-1]["window_start"] + k * period   # noqa: E731  k periods on
    with _pulse_ui(sink, free_port(), tmp_path / "pulse-ui.log") as url, \
         _chromium(tempfile.mkdtemp(dir=tmp_path, prefix="chromium-")) as driver:
      started = time.monotonic()
      driver.get(url)
      state, _ = _wait(driver, "the stored frames", lambda s: s["connected"] and
                       s["frames"] == len(frames) and s["frameId"] == frames[-1]["id"], 30)
      print(f"page up with {len(frames)} frames in {time.monotonic() - started:.2f} s")

      # A new frame lands: live mode shows it within a second.
      new = shifted(busiest, after(1))
      store.write([new])
      state, took = _wait(driver, "the new frame", lambda s: s["frameId"] == new["id"], 1.0)
      print(f"new frame on the page {took:.3f} s after the write")
      assert new["id"] in driver.find_element("id", "window-id").text
      assert state["nodes"] == sum(c["size"] for c in new["clusters"]) > 0
      assert state["edges"] == distinct_links(new)
      assert state["buckets"] == buckets(new["size_histogram"])
      assert driver.find_element("id", "stat-clusters").text == str(len(new["clusters"]))

      # A click on a member of the largest cluster lists exactly that cluster.
      cluster = new["clusters"][0]
      login = next(m for m in cluster["members"] if m != cluster["hub"])
      _click_node(driver, login)
      state, _ = _wait(driver, "the clicked node's cluster",
                       lambda s: s["selected"] is not None, 2)
      assert state["selected"] == login and state["panelLogin"] == login
      assert sorted(state["panelMembers"]) == sorted(cluster["members"])

      # Paused, a frame lands in the timeline but not on the graph; resuming shows it.
      driver.find_element("id", "pause").click()
      paused = shifted(busiest, after(2))
      store.write([paused])
      _wait(driver, "the frame landed while paused",
            lambda s: s["frames"] == len(frames) + 2 and not s["live"], 2)
      assert driver.execute_script("return window.pulse.state().frameId") == new["id"]
      driver.find_element("id", "pause").click()
      _wait(driver, "resumed", lambda s: s["live"] and s["frameId"] == paused["id"], 2)

      # The timeline steps back to the first stored window.
      driver.execute_script("const s = document.getElementById('slider');"
                            "s.value = '0'; s.dispatchEvent(new Event('input'));")
      _wait(driver, "the first window", lambda s: s["frameId"] == frames[0]["id"] and
            not s["live"], 2)
      driver.find_element("id", "live").click()
      _wait(driver, "live again", lambda s: s["live"] and s["frameId"] == paused["id"], 2)

      # A login that is markup shows as text: no element made, no dialog.
      evil = shifted(busiest, after(3))
      hostile = evil["clusters"][0]
      histogram = evil["size_histogram"]
      histogram[str(hostile["size"])] -= 1
      histogram[str(hostile["size"] + 1)] = histogram.get(str(hostile["size"] + 1), 0) + 1
      hostile["members"] = sorted(hostile["members"] + [XSS])
      hostile["size"] += 1
      hostile["links"].append({"src": hostile["hub"], "dst": XSS, "type": "WatchEvent",
                               "id": "1", "created_at": evil["window_start"]})
      hostile["hub"] = XSS
      store.write([evil])
      _wait(driver, "the frame with markup in a login", lambda s: s["frameId"] == evil["id"], 2)
      _click_node(driver, XSS)
      state, _ = _wait(driver, "the markup login selected", lambda s: s["selected"] == XSS, 2)
      assert state["panelLogin"] == XSS and XSS in state["panelMembers"]
      assert driver.find_element("id", "panel-node").text == XSS
      assert driver.execute_script("return document.getElementsByTagName('img').length") == 0
      assert driver.execute_script("return window.__dialogs") == []
      from selenium.common.exceptions import NoAlertPresentException
      with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text

      shot = tmp_path / "ui-screenshot.png"
      assert driver.save_screenshot(str(shot))
      os.makedirs(os.path.join(REPO, "out"), exist_ok=True)
      shutil.copy(shot, os.path.join(REPO, "out", "ui-screenshot.png"))
      print(f"screenshot: {shot} (copied to out/ui-screenshot.png)")
      severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
      assert not severe, severe
    store.close()
