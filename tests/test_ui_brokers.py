"""Brokers on the page (`pulse ui` in Debian's headless Chromium), over a real pipeline run
of the 2015 hour: every drawn cluster's bridges are drawn as broker links, and the panel
lists a selected cluster's brokers with the members on either side, as networkx counts
them on the cluster's links (the screenshot is docs/ui-brokers.png)."""
import os
import shutil

import networkx as nx
import pytest

from helpers import HOURS, REPO
from test_ui import _chromium_or_skip, _click_node, _open_at, _page_over, _time_limit, _wait


def _sides(cluster, pair):
  """The members on either side of a broker link, by networkx on the cluster's links."""
  graph = nx.Graph((link["src"], link["dst"]) for link in cluster["links"])
  graph.remove_edge(*pair)
  return [len(nx.node_connected_component(graph, end)) for end in pair]


@pytest.mark.servers
def test_brokers_are_drawn_and_listed_with_their_sides(run_pulse, tmp_path):
  _chromium_or_skip()
  with _time_limit(120):
    frames = run_pulse(HOURS["2015"]).frames
    # The window whose largest cluster has the most brokers.
    frame = max(frames, key=lambda f: len(f["clusters"][0]["bridges"]) if f["clusters"] else 0)
    cluster = frame["clusters"][0]
    assert len(cluster["bridges"]) >= 3, "the hour's clusters have too few brokers to show"
    with _page_over(frames, tmp_path, "brokers") as (store, url, driver):
      state = _open_at(driver, url, frames, frame["id"])
      assert state["brokerEdges"] == sorted(
          " ".join(pair) for c in frame["clusters"] for pair in c["bridges"])
      assert state["panelBrokers"] == []        # nothing selected: no list

      _click_node(driver, cluster["hub"])
      state, _ = _wait(driver, "the cluster's brokers", lambda s: s["panelBrokers"], 10)
      assert state["panelBrokers"] == [
          f"{u} \u2013 {v} joins {a} + {b}"
          for (u, v), (a, b) in ((p, _sides(cluster, p)) for p in cluster["bridges"])]
      assert all(min(_sides(cluster, p)) >= 2 for p in cluster["bridges"])

      shot = tmp_path / "ui-brokers.png"
      assert driver.save_screenshot(str(shot))
      os.makedirs(os.path.join(REPO, "out"), exist_ok=True)
      shutil.copy(shot, os.path.join(REPO, "out", "ui-brokers.png"))
      print(f"{frame['id']}: {cluster['id']} ({cluster['size']} members), "
            f"{len(cluster['bridges'])} brokers; screenshot out/ui-brokers.png")
      assert driver.execute_script("return window.__dialogs") == []
      severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
      assert not severe, severe
    store.close()
