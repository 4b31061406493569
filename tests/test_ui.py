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


def clustered(frame):
  return sum(c["size"] for c in frame["clusters"])


def opening(frames):
  """Where the page should open: among the frames whose windows overlap the newest one,
  the one with the most members in clusters, the newest of equals."""
  recent = [f for f in frames if f["window_end"] > frames[-1]["window_start"]]
  return max(reversed(recent), key=clustered)


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
  assert listed[0]["clustered"] == 4 and http.get("/api/frames").get_json()["open"] == "0-600000"
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


def test_the_page_opens_on_the_newest_window_that_holds_clusters():
  from pulse.ui.server import opening_frame
  minute, size = 60_000, 600_000
  summary = lambda k, n: {"id": str(k), "window_start": k * minute,   # noqa: E731
                          "window_end": k * minute + size, "clustered": n}
  # A run's fading tail: the last full window (k=20) has the most clustered members.
  tail = [summary(k, n) for k, n in enumerate([40] * 20 + [30, 25, 20, 12, 9, 9, 6, 4, 3, 3])]
  assert opening_frame(tail) == "20"
  # Only frames overlapping the newest window count: a busier one before is not picked.
  assert opening_frame([summary(0, 99)] + [summary(k, 5) for k in range(10, 20)]) == "19"
  assert opening_frame([summary(0, 0)]) == "0" and opening_frame([]) is None


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
def _pulse_ui_process(sink, port, log_path):
  """`pulse ui` on 127.0.0.1:port, answering; yields (process, url); stopped by its PID."""
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
    yield server, url
  finally:
    stop_process(server)


@contextmanager
def _pulse_ui(sink, port, log_path):
  """`pulse ui` on 127.0.0.1:port; yields its url."""
  with _pulse_ui_process(sink, port, log_path) as (_, url):
    yield url


@contextmanager
def _page_over(frames, tmp_path, name="frames"):
  """A store of `frames`, `pulse ui` over it, and a Chromium: yields (store, url, driver)."""
  sink = f"sqlite://{tmp_path}/{name}.db"
  store = open_store(sink)
  store.write(frames)
  with _pulse_ui(sink, free_port(), tmp_path / "pulse-ui.log") as url, \
       _chromium(tempfile.mkdtemp(dir=tmp_path, prefix="chromium-")) as driver:
    yield store, url, driver


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


def _open_at(driver, url, frames, frame_id):
  """Opens the page, waits for all `frames`, and steps the timeline's slider to frame_id;
  returns the page's state there."""
  driver.get(url)
  _wait(driver, "the stored frames", lambda s: s["connected"] and
        s["frames"] == len(frames), 30)
  driver.execute_script("const s = document.getElementById('slider');"
                        "s.value = arguments[0]; s.dispatchEvent(new Event('input'));",
                        str([f["id"] for f in frames].index(frame_id)))
  return _wait(driver, f"window {frame_id}", lambda s: s["frameId"] == frame_id, 10)[0]


def _save_screenshot(driver, tmp_path, name):
  """The page as it is, to out/<name> (the docs' screenshots are copied from there); the
  browser logged no error."""
  shot = tmp_path / name
  assert driver.save_screenshot(str(shot))
  os.makedirs(os.path.join(REPO, "out"), exist_ok=True)
  shutil.copy(shot, os.path.join(REPO, "out", name))
  severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
  assert not severe, severe


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


# How many inked pixels of the labels canvas lie inside and outside the label boxes the
# page reports drawing (grown by 1 px for anti-aliasing).
LABEL_INK = """
const canvas = document.querySelector('#graph canvas.sigma-labels');
const scale = canvas.width / canvas.clientWidth, boxes = arguments[0];
const ink = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
let inside = 0, outside = 0;
for (let y = 0; y < canvas.height; y++) for (let x = 0; x < canvas.width; x++) {
  if (!ink[4 * (y * canvas.width + x) + 3]) continue;
  const [cx, cy] = [(x + 0.5) / scale, (y + 0.5) / scale];   // the pixel's centre
  if (boxes.some((b) => cx >= b.x0 - 1 && cx <= b.x1 + 1 && cy >= b.y0 - 1 && cy <= b.y1 + 1))
    inside++; else outside++;
}
return [inside, outside];"""


def _check_drawing(driver, frame):
  """Neighbouring clusters have different colours; labels do not overlap (their boxes, and
  the ink on the labels canvas lies within them); returns what was checked."""
  drawing = driver.execute_script("return window.pulse.drawing()")
  clusters, unit = drawing["clusters"], drawing["unit"]
  assert [c["hub"] for c in clusters] == [c["hub"] for c in frame["clusters"]]
  colours = []
  for c in clusters:
    assert len({n["colour"] for n in c["nodes"]}) == 1, c   # one colour per cluster
    colours.append(c["nodes"][0]["colour"])
  # Neighbours: clusters with a node of one within 6 layout units of a node of the other
  # (side by side in a row, hubs of 3-member clusters are 5.3 units apart).
  pairs = 0
  for i, a in enumerate(clusters):
    for j in range(i):
      b = clusters[j]
      near = min(((p["x"] - q["x"]) ** 2 + (p["y"] - q["y"]) ** 2) ** 0.5
                 for p in a["nodes"] for q in b["nodes"])
      if near < 6 * unit:
        pairs += 1
        assert colours[i] != colours[j], (f"neighbours {a['hub']} and {b['hub']} "
                                          f"({near:.0f} px apart) share {colours[i]}")
  labels = drawing["labels"]
  for i, a in enumerate(labels):
    for b in labels[:i]:
      assert not (a["x0"] < b["x1"] and b["x0"] < a["x1"] and a["y0"] < b["y1"] and
                  b["y0"] < a["y1"]), f"labels overlap: {a} {b}"
  inside, outside = driver.execute_script(LABEL_INK, labels)
  assert inside > 0 and outside == 0, (inside, outside)
  hubs = {c["hub"] for c in frame["clusters"]}
  labelled = [b["login"] for b in labels if b["login"] in hubs]
  assert frame["clusters"][0]["hub"] in labelled and len(labelled) >= len(hubs) / 2, labelled
  return {"neighbour pairs": pairs, "labels": len(labels), "hubs": len(hubs)}


BARS = """
const plot = document.querySelector('#chart-sizes .nsewdrag').getBoundingClientRect();
const bars = [...document.querySelectorAll('#chart-sizes .point path')].map((p) => {
  const r = p.getBoundingClientRect();
  const bottom = Math.min(r.bottom, plot.bottom);     // a bar of 0 reaches far below: clipped
  return {left: r.left, right: r.right, top: r.top, height: bottom - r.top};
});
const notes = [...document.querySelectorAll('#chart-sizes .annotation')].map((a) => {
  const r = a.getBoundingClientRect();
  return {text: a.textContent, centre: (r.left + r.right) / 2, bottom: r.bottom};
});
return {bars, notes, plotHeight: plot.height};"""


def _check_bars(driver, counts):
  """Every non-empty size bucket's bar is drawn at least 6 px tall, whatever the others'
  counts, and labelled with its count just above it."""
  got = driver.execute_script(BARS)
  assert [n["text"] for n in got["notes"]] == [str(n) for n in counts]
  assert len(got["bars"]) == len(counts)
  for count, bar, note in zip(counts, got["bars"], got["notes"]):
    if not count:
      continue
    assert bar["height"] >= 6, (count, bar, counts)
    assert bar["left"] < note["centre"] < bar["right"] and abs(note["bottom"] - bar["top"]) < 8
  return [round(b["height"]) if n else 0 for n, b in zip(counts, got["bars"])]


def _time_chart(driver):
  """The time chart's first line as drawn: its pieces' x extents (px), the plot width, and
  the marks on the cut stretches."""
  return driver.execute_script("""
    const chart = document.getElementById('chart-time');
    const pieces = [...chart.querySelectorAll('.scatterlayer .trace')][0]
        .querySelectorAll('path.js-line');
    return {width: chart._fullLayout._size.w,
            pieces: [...pieces].map((p) => { const r = p.getBBox(); return [r.x, r.x + r.width]; }),
            marks: [...chart.querySelectorAll('.annotation')].map((a) => a.textContent)};""")


@pytest.mark.servers
def test_live_ui_in_chromium(run_pulse, tmp_path):
  _chromium_or_skip()
  with _time_limit(150):
    frames = run_pulse(HOURS["2011"]).frames
    busiest = max(frames, key=lambda f: sum(c["size"] for c in f["clusters"]))
    period = frames[1]["window_start"] - frames[0]["window_start"]
    after = lambda k: frames[-1]["window_start"] + k * period   # noqa: E731  k periods on
    with _page_over(frames, tmp_path, "ui") as (store, url, driver):
      started = time.monotonic()
      driver.get(url)
      # It opens, live, on the newest window that holds clusters: not the run's fading tail
      # (the last frame: one cluster of 4) but the last full window, 10 frames back.
      first = opening(frames)
      state, _ = _wait(driver, "the stored frames", lambda s: s["connected"] and
                       s["frames"] == len(frames) and s["frameId"] == first["id"], 30)
      print(f"page up with {len(frames)} frames in {time.monotonic() - started:.2f} s")
      assert state["live"] and first is frames[-10]
      assert clustered(first) >= 5 * clustered(frames[-1]) and len(first["clusters"]) >= 5
      assert first["window_end"] <= frames[-1]["window_start"] + period   # a full window
      print("opening drawing:", _check_drawing(driver, first))
      assert len(_time_chart(driver)["pieces"]) == 1      # one hour, no gap: one line

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
      print("bars (px):", _check_bars(driver, buckets(new["size_histogram"])))

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


@pytest.mark.servers
def test_ui_over_hours_years_apart_in_chromium(run_pulse, tmp_path):
  """The 2011, 2012 and 2015 hours in one store, five windows of 2012 missing: the time
  chart keeps each hour readable and breaks its lines at every gap; pairs do not hide the
  rarer sizes; a crowded window (45 clusters) keeps neighbours apart by colour and its
  labels apart."""
  _chromium_or_skip()
  with _time_limit(150):
    frames = run_pulse([HOURS["2011"], HOURS["2012"], HOURS["2015"]]).frames
    years = [time.gmtime(f["window_end"] / 1000).tm_year for f in frames]
    assert sorted(set(years)) == [2011, 2012, 2015]
    first_2012 = years.index(2012)
    missing = frames[first_2012 + 30:first_2012 + 35]
    kept = [f for f in frames if f not in missing]
    with _page_over(kept, tmp_path, "years") as (store, url, driver):
      driver.get(url)
      first = opening(kept)
      state, _ = _wait(driver, "the stored frames", lambda s: s["connected"] and
                       s["frames"] == len(kept) and s["frameId"] == first["id"], 30)
      assert years[frames.index(first)] == 2015 and first is not kept[-1]
      assert len(first["clusters"]) >= 40
      print("crowded drawing:", _check_drawing(driver, first))

      # The chart: a line per stretch of consecutive windows (2011, 2012 before and after
      # the missing five, 2015), each of the three hours over a fifth of the width, the
      # five missing windows a visible gap, the years between marked.
      chart = _time_chart(driver)
      pieces, width = chart["pieces"], chart["width"]
      assert len(pieces) == 4, pieces
      hours = [pieces[0], (pieces[1][0], pieces[2][1]), pieces[3]]
      assert all(b - a > width / 5 for a, b in hours), (hours, width)
      slot = (pieces[1][1] - pieces[1][0]) / 29     # 30 windows before the gap
      assert 5 * slot < pieces[2][0] - pieces[1][1] < 7 * slot, (pieces, slot)
      assert chart["marks"] == ["365 days later", "1,051 days later"]

      # Pairs dwarf the rest (313 : 42 : 4 : 1): every bar still shows, with its count.
      skewed = shifted(first, kept[-1]["window_start"] + 60_000)
      skewed["size_histogram"] = {"2": 313, "3": 30, "4": 12, "6": 4, "15": 1}
      store.write([skewed])
      _wait(driver, "the pushed frame", lambda s: s["frameId"] == skewed["id"], 2)
      print("bars (px):", _check_bars(driver, [313, 42, 4, 1]))

      _save_screenshot(driver, tmp_path, "ui-screenshot-years.png")
    store.close()
