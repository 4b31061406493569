"""The live UI against hostile input: logins that are the names of JavaScript's Object
properties (drawn, listed and followed like any other), and clients that open connections
and never finish their request (held in bounded number, for a bounded time)."""
import selectors
import socket
import time
import urllib.request

import pytest

from helpers import free_port
from test_ui import (_check_drawing, _chromium_or_skip, _click_node, _page_over,
                     _pulse_ui_process, _time_limit, _wait, distinct_links)

from pulse.io.stores import open_store

# Legal GitHub logins that a plain JavaScript object already "has".
PROTO = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"]
START, SIZE, STEP = 1_297_728_000_000, 600_000, 60_000


def cluster(hub, members, links):
  members = sorted(members)
  return {"id": members[0], "size": len(members), "hub": hub, "members": members,
          "links": [{"src": s, "dst": d, "type": "WatchEvent", "id": str(i),
                     "created_at": START + i} for i, (s, d) in enumerate(links)]}


def frame(k, clusters):
  """The frame of the k-th window, holding exactly these clusters."""
  start = START + k * STEP
  histogram = {}
  for c in clusters:
    histogram[str(c["size"])] = histogram.get(str(c["size"]), 0) + 1
  return {"id": f"{start}-{start + SIZE}", "window_start": start, "window_end": start + SIZE,
          "edges": sum(len(c["links"]) for c in clusters),
          "vertices": sum(c["size"] for c in clusters), "components": len(clusters),
          "size_histogram": histogram, "clusters": clusters}


def hostile_frames():
  # Links run both ways between the property names, so each is a source and a target.
  first = frame(0, [
      cluster("constructor", ["constructor", "toString", "valueOf", "alice"],
              [("constructor", "toString"), ("valueOf", "constructor"),
               ("alice", "valueOf")]),
      cluster("__proto__", ["__proto__", "hasOwnProperty", "bob"],
              [("hasOwnProperty", "__proto__"), ("__proto__", "bob")])])
  second = frame(1, [
      cluster("hasOwnProperty", ["hasOwnProperty", "__proto__", "constructor", "carol"],
              [("__proto__", "hasOwnProperty"), ("hasOwnProperty", "constructor"),
               ("carol", "__proto__")]),
      cluster("toString", ["toString", "valueOf"], [("toString", "valueOf")])])
  plain = frame(2, [cluster("dave", ["dave", "erin", "frank"],
                            [("dave", "erin"), ("frank", "dave")])])
  # Brokers between property names, and brokers that are not pairs at all.
  first["clusters"][0]["bridges"] = [["constructor", "valueOf"]]
  second["clusters"][0]["bridges"] = 7
  second["clusters"][1]["bridges"] = ["toString", {"__proto__": 1}, [None, 2]]
  return first, second, plain


def _check_shown(driver, shown):
  """The page draws `shown` whole, live, its hubs labelled; a click on each property-named
  member lists that member's cluster."""
  from selenium.webdriver.common.action_chains import ActionChains
  state, _ = _wait(driver, f"frame {shown['id']}", lambda s: s["frameId"] == shown["id"], 5)
  assert state["nodes"] == sum(c["size"] for c in shown["clusters"])
  assert state["edges"] == distinct_links(shown)
  assert state["connected"] and state["live"], state
  assert driver.find_element("id", "mode").text == "live"
  hub, deadline = shown["clusters"][0]["hub"], time.monotonic() + 2
  while hub not in [b["login"] for b in driver.execute_script(
      "return window.pulse.drawing()")["labels"]]:    # labels come with the next render
    assert time.monotonic() < deadline, f"{hub!r} not labelled"
    time.sleep(0.02)
  _check_drawing(driver, shown)
  for c in shown["clusters"]:
    for login in c["members"]:
      if login not in PROTO:
        continue
      _click_node(driver, login)
      state, _ = _wait(driver, f"{login!r} selected", lambda s: s["selected"] == login, 2)
      assert state["panelLogin"] == login
      assert sorted(state["panelMembers"]) == sorted(c["members"]), (login, state)
  # Pointer off the graph, nothing selected: the next window's hubs are all labelled.
  ActionChains(driver).move_to_element(driver.find_element("id", "mode")).perform()
  driver.execute_script("window.pulse.clickNode(null)")


@pytest.mark.servers
def test_logins_named_like_object_properties_in_chromium(tmp_path):
  _chromium_or_skip()
  first, second, plain = hostile_frames()
  assert {m for c in first["clusters"] for m in c["members"]} >= set(PROTO)
  with _time_limit(120):
    with _page_over([first], tmp_path, "proto") as (store, url, driver):
      driver.get(url)
      _wait(driver, "the stored frame", lambda s: s["connected"] and s["frames"] == 1, 30)
      _check_shown(driver, first)
      for later in (second, plain):     # pushed windows are still drawn, live
        store.write([later])
        _check_shown(driver, later)
      assert driver.execute_script("return window.__dialogs") == []
      severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
      assert not severe, severe
    store.close()


# ---- half-open connections --------------------------------------------------------------

HALF_OPEN = 300
THREAD_BOUND = 100


def _threads(pid):
  with open(f"/proc/{pid}/status") as f:
    return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))


def _pushed(url, store, new, timeout_s):
  """Seconds from writing `new` to a socket.io client (websocket transport) receiving it."""
  import socketio
  got = []
  client = socketio.Client(reconnection=False)
  client.on("frame", lambda f: got.append((time.monotonic(), f["id"])))
  client.connect(url, transports=["websocket"], wait_timeout=timeout_s)
  try:
    written = time.monotonic()
    store.write([new])
    while not any(i == new["id"] for _, i in got):
      assert time.monotonic() - written < timeout_s, f"no push of {new['id']}: {got}"
      time.sleep(0.02)
    return next(t for t, i in got if i == new["id"]) - written
  finally:
    client.disconnect()


@pytest.mark.servers
def test_half_open_requests_hold_neither_threads_nor_sockets(tmp_path):
  from pulse.ui.server import HEAD_TIMEOUT_S
  first, second, _ = hostile_frames()
  sink = f"sqlite://{tmp_path}/held.db"
  store = open_store(sink)
  store.write([first])
  held = []
  with _time_limit(90), \
       _pulse_ui_process(sink, free_port(), tmp_path / "pulse-ui.log") as (server, url):
    port = int(url.rsplit(":", 1)[1].strip("/"))
    idle = _threads(server.pid)
    try:
      opened = time.monotonic()
      for _ in range(HALF_OPEN):       # a request line and a header, never the blank line
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        held.append(s)
      time.sleep(1)
      during = _threads(server.pid)
      started = time.monotonic()
      with urllib.request.urlopen(url + "api/frames", timeout=2) as response:
        assert response.status == 200 and first["id"].encode() in response.read()
      took = time.monotonic() - started
      push = _pushed(url, store, second, 2)
      print(f"threads: {idle} idle, {during} with {HALF_OPEN} half-open requests held; "
            f"a request answered in {took * 1000:.0f} ms, a push in {push * 1000:.0f} ms")
      assert during < THREAD_BOUND, during
      assert took < 2 and push < 2

      # The server closes every one of them within its head timeout.
      selector = selectors.DefaultSelector()
      for s in held:
        s.setblocking(False)
        selector.register(s, selectors.EVENT_READ)
      still = set(held)
      deadline = opened + HEAD_TIMEOUT_S + 5
      while still and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.2):
          try:
            closed = key.fileobj.recv(4096) == b""
          except ConnectionResetError:
            closed = True
          if closed:
            selector.unregister(key.fileobj)
            still.discard(key.fileobj)
      selector.close()
      last = time.monotonic() - opened
      print(f"{HALF_OPEN - len(still)} of {HALF_OPEN} closed by the server within "
            f"{last:.1f} s (head timeout {HEAD_TIMEOUT_S} s); threads now "
            f"{_threads(server.pid)}")
      assert not still, f"{len(still)} half-open connections still open after {last:.1f} s"
      with urllib.request.urlopen(url, timeout=2) as response:
        assert response.status == 200
    finally:
      for s in held:
        s.close()
  store.close()
