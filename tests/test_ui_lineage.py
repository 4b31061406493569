"""Following a cluster on the page (`pulse ui` in Debian's headless Chromium): select a
cluster, see its history, click a predecessor or successor and land on that window with
that cluster selected, read the window's changes; a cluster keeps its colour while it keeps
its id. Over the hand-written lineage of tests/test_history.py, then over a real pipeline
run of the 2015 hour (whose screenshot is docs/ui-lineage.png)."""
import os
import shutil

import pytest

from helpers import HOURS, REPO
from test_history import (A, B, C, D, E, O, X, at, lineage_frames)
from test_ui import (_check_drawing, _chromium_or_skip, _click_node, _open_at, _page_over,
                     _time_limit, _wait)

from pulse.ui.history import cluster_history

KINDS = ["merged", "split", "born", "dissolved"]


def window(k):
  return f"{at(k)}-{at(k) + 600_000}"


def _listed(frame):
  return frame["clusters"] + frame.get("more_clusters", [])


def expected_changes(frame, previous):
  """The page's changes list: born, merged, split and dissolved, largest first (dissolved
  by their size in the window before), ties in the order of KINDS, then by id."""
  sizes = {c["id"]: c["size"] for c in _listed(previous)} if previous else {}
  items = [(c["change"], c["id"], c["size"]) for c in _listed(frame)
           if c["change"] in ("born", "merged", "split")]
  items += [("dissolved", i, sizes.get(i)) for i in frame["dissolved"]]
  items.sort(key=lambda t: (-(t[2] or 0), KINDS.index(t[0]), t[1]))
  return [{"kind": kind, "id": i} for kind, i, _ in items]


def _click(driver, css):
  """A real click on the one element css selects (scrolled into view first)."""
  found = driver.find_elements("css selector", css)
  assert len(found) == 1, f"{css}: {len(found)} elements"
  driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", found[0])
  found[0].click()


def _selected(driver, frame_id, cluster_id, what):
  """Waits until the page shows frame_id with cluster_id selected and its history drawn."""
  state, _ = _wait(driver, what, lambda s: s["frameId"] == frame_id and
                   s["cluster"] == cluster_id and s["history"] and
                   s["history"]["id"] == cluster_id, 10)
  return state


def _changes(driver, expected, what):
  """Waits until the changes list is `expected` (it is drawn once the window before, which
  gives the sizes of those dissolved, has been fetched)."""
  _wait(driver, what, lambda s: s["changes"] == expected, 5)


def _no_errors(driver):
  assert driver.execute_script("return window.__dialogs") == []
  severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
  assert not severe, severe


def _sizes(life):
  return [w["size"] for w in life["windows"]]


@pytest.mark.servers
def test_following_clusters_over_hand_written_lineage(tmp_path):
  _chromium_or_skip()
  frames = lineage_frames()
  by_id = {f["id"]: f for f in frames}
  with _time_limit(120):
    with _page_over(frames, tmp_path, "lineage") as (store, url, driver):
      driver.get(url)
      # It opens on the window with the most clustered members (the newest of equals).
      state, _ = _wait(driver, "the stored frames", lambda s: s["connected"] and
                       s["frames"] == 5 and s["frameId"] == window(2), 30)
      assert state["cluster"] is None and state["history"] is None
      assert expected_changes(frames[2], frames[1]) == [
          {"kind": "merged", "id": A}, {"kind": "dissolved", "id": C}]
      _changes(driver, expected_changes(frames[2], frames[1]), "the opening window's changes")

      # A click on a member selects its cluster: A's history, 4 windows.
      _click_node(driver, "carol")
      state = _selected(driver, window(2), A, "A selected")
      assert state["selected"] == "carol" and state["history"]["sizes"] == [4, 5, 8, 5]
      assert state["history"]["whats"] == [
          "born", "merged with", "split off", "dissolved: no successor"]
      assert state["history"]["events"][1] == "12:02–12:12 merged with erin12:00 (3 shared)"

      # The predecessor it merged with: the window before, B selected (drawn there).
      _click(driver, f'#history-events li[data-what="merged with"] button[data-cluster="{B}"]')
      state = _selected(driver, window(1), B, "B in the window before the merge")
      assert not state["live"] and state["selected"] is None
      assert state["history"]["sizes"] == [3, 3]
      assert driver.find_element("id", "panel-title").text.lower() == "selected cluster"
      assert sorted(state["panelMembers"]) == ["erin", "frank", "gina"]
      # Its successor: what it merged into, in the next window.
      _click(driver, f'#history-events li[data-what="merged into"] button[data-cluster="{A}"]')
      _selected(driver, window(2), A, "A, which B merged into")
      # The cluster split off A: the window where it split, E selected.
      _click(driver, f'#history-events li[data-what="split off"] button[data-cluster="{E}"]')
      state = _selected(driver, window(3), E, "E, split off A")
      assert state["history"]["sizes"] == [3, 3]
      assert expected_changes(frames[3], frames[2]) == [
          {"kind": "split", "id": E}, {"kind": "split", "id": O}]
      _changes(driver, expected_changes(frames[3], frames[2]), "the changes where E split")

      # The changes list: O (in more_clusters, not drawn, so no hub) picked in this window.
      _click(driver, f'#changes li[data-cluster="{O}"] > button')
      state = _selected(driver, window(3), O, "O picked from the changes")
      assert "hub -" in driver.find_element("id", "panel-cluster").text
      assert sorted(state["panelMembers"]) == ["oli", "pat", "quin"]
      # The next window: O goes on there, so it stays selected.
      driver.find_element("id", "next").click()
      _selected(driver, window(4), O, "O followed into the next window")
      assert expected_changes(frames[4], frames[3]) == [
          {"kind": "dissolved", "id": A}, {"kind": "born", "id": X}]
      _changes(driver, expected_changes(frames[4], frames[3]), "the last window's changes")
      # A dissolved cluster is shown where it still was: the window before.
      _click(driver, f'#changes li[data-cluster="{A}"] > button')
      state = _selected(driver, window(3), A, "A, dissolved in the next window")
      assert state["history"]["sizes"] == [4, 5, 8, 5]

      # A cluster keeps its colour while it keeps its id, and neighbours still differ.
      colours = {}
      for k, f in enumerate(frames):
        driver.execute_script("window.pulse.goTo(arguments[0], null)", f["id"])
        _wait(driver, f"window {k}", lambda s, f=f: s["frameId"] == f["id"], 5)
        _check_drawing(driver, by_id[f["id"]])
        for c in f["clusters"]:
          colours.setdefault(c["id"], set()).add(
              driver.execute_script("return window.pulse.colourOf(arguments[0])", c["id"]))
      assert all(len(seen) == 1 for seen in colours.values()), colours
      assert len(colours[D]) == 1 and len(colours[A]) == 1
      _no_errors(driver)
    store.close()


def _history_with_a_merge(frames):
  """The largest cluster of the hour, and its life (it merged with another on the way)."""
  peak = max(frames, key=lambda f: f["clusters"][0]["size"] if f["clusters"] else 0)
  life = cluster_history(frames, peak["clusters"][0]["id"])
  return peak, life


@pytest.mark.servers
def test_following_a_cluster_over_a_real_hour(run_pulse, tmp_path):
  """The 2015 hour through the real pipeline (transforms/lineage.py links its windows)."""
  _chromium_or_skip()
  with _time_limit(150):
    frames = run_pulse(HOURS["2015"]).frames
    by_id = {f["id"]: f for f in frames}
    order = [f["id"] for f in frames]
    peak, life = _history_with_a_merge(frames)
    cluster = peak["clusters"][0]
    merges = [(w, s) for w in life["windows"][1:] for s in w["from"] if s["id"] != life["id"]]
    assert merges, "the hour's largest cluster merged with none"
    merge_window, predecessor = merges[0]
    before = order[order.index(merge_window["frame"]) - 1]
    assert predecessor["id"] in [c["id"] for c in _listed(by_id[before])]
    ended = cluster_history(frames, predecessor["id"])["end"]
    assert ended["how"] == "merged" and ended["frame"] == merge_window["frame"]
    assert cluster["id"] in [s["id"] for s in ended["into"]]
    with _page_over(frames, tmp_path, "hour") as (store, url, driver):
      # The window where the largest cluster peaks; click a member.
      _open_at(driver, url, frames, peak["id"])
      login = next(m for m in cluster["members"] if m != cluster["hub"])
      _click_node(driver, login)
      state = _selected(driver, peak["id"], cluster["id"], "the largest cluster selected")
      assert state["history"]["sizes"] == _sizes(life)
      index = order.index(peak["id"])
      _changes(driver, expected_changes(peak, frames[index - 1]), "the peak's changes")
      print(f"{cluster['id']}: {len(life['windows'])} windows, sizes {_sizes(life)}, "
            f"ends {life['end']['how']}")
      colour = driver.execute_script("return window.pulse.colourOf(arguments[0])", cluster["id"])

      shot = tmp_path / "ui-lineage.png"
      assert driver.save_screenshot(str(shot))
      os.makedirs(os.path.join(REPO, "out"), exist_ok=True)
      shutil.copy(shot, os.path.join(REPO, "out", "ui-lineage.png"))
      print(f"screenshot: {shot} (copied to out/ui-lineage.png)")

      # The predecessor it merged with: the window before the merge, that cluster selected.
      _click(driver, f'#history-events li[data-what="merged with"] '
                     f'button[data-cluster="{predecessor["id"]}"]')
      state = _selected(driver, before, predecessor["id"], "the predecessor")
      assert state["history"]["sizes"] == _sizes(cluster_history(frames, predecessor["id"]))
      _changes(driver, expected_changes(by_id[before], frames[order.index(before) - 1]),
               "the predecessor's window's changes")
      # And back along its successor to the window of the merge.
      _click(driver, f'#history-events li[data-what="merged into"] '
                     f'button[data-cluster="{cluster["id"]}"]')
      _selected(driver, merge_window["frame"], cluster["id"], "back to the merge")

      # Colours over the hour, stepping through it: a drawn cluster keeps its colour from
      # one window to the next but where it comes beside an older cluster of the same colour
      # (the layout packs up to 50 clusters in rows by size, so neighbours change often:
      # measured 2,141 of 2,322 kept).
      seen = {}
      for f in frames:
        driver.execute_script("window.pulse.goTo(arguments[0], null)", f["id"])
        _wait(driver, f"window {f['id']}", lambda s, f=f: s["frameId"] == f["id"], 5)
        ids = [c["id"] for c in f["clusters"]]
        seen[f["id"]] = dict(zip(ids, driver.execute_script(
            "return arguments[0].map((id) => window.pulse.colourOf(id))", ids)))
      pairs = kept = 0
      for one, two in zip(order, order[1:]):
        for i in set(seen[one]) & set(seen[two]):
          pairs += 1
          kept += seen[one][i] == seen[two][i]
      print(f"colour kept in {kept} of {pairs} steps of a cluster to the next window; "
            f"the largest's: {colour} at its peak")
      assert pairs > 500 and kept >= 0.85 * pairs
      _no_errors(driver)
    store.close()
