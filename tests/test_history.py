"""A cluster's life across windows (ui/history.py): cluster_history over hand-written frames
with lineage in a SQLite store (born, continued, merged, split, dissolved, still alive, in
more_clusters), `pulse history` as text and JSON, an unknown id (exit 2), and the page's
/api/history."""
import io
import json
import urllib.parse
from contextlib import redirect_stderr, redirect_stdout

import pytest

from pulse.cli import main
from pulse.io.stores import open_store
from pulse.ui.history import born_at, cluster_history, render

START, SIZE, STEP = 1_420_113_600_000, 600_000, 60_000      # 2015-01-01 12:00 UTC
XSS = "<img src=x onerror=alert(1)>"


def at(k):
  return START + k * STEP


def cid(k, first):
  """A new cluster's id: the window it was born in and its first member."""
  return f"{at(k)}/{first}"


A, B, C, D = cid(0, "alice"), cid(0, "erin"), cid(0, "hank"), cid(0, "lou")
E, O, X = cid(3, "erin"), cid(3, "oli"), cid(4, "xavier")


def cluster(id_, members, change, sources=(), hub=None):
  """A drawn cluster (hub and links: a star round the hub) or, with hub=False, one of
  more_clusters (id, size, members, from, change only)."""
  members = sorted(members)
  out = {"id": id_, "size": len(members), "members": members,
         "from": [{"id": i, "shared": n} for i, n in sources], "change": change}
  if hub is False:
    return out
  hub = hub or members[0]
  out["hub"] = hub
  out["links"] = [{"src": hub, "dst": m, "type": "WatchEvent", "id": f"{hub}-{m}",
                   "created_at": START} for m in members if m != hub]
  return out


def frame(k, clusters, more=(), dissolved=()):
  listed = list(clusters) + list(more)
  histogram = {}
  for c in listed:
    histogram[str(c["size"])] = histogram.get(str(c["size"]), 0) + 1
  return {"id": f"{at(k)}-{at(k) + SIZE}", "window_start": at(k), "window_end": at(k) + SIZE,
          "edges": sum(c["size"] - 1 for c in listed),
          "vertices": sum(c["size"] for c in listed), "components": len(listed),
          "size_histogram": {s: histogram[s] for s in sorted(histogram, key=int)},
          "clusters": list(clusters), "more_clusters": list(more),
          "dissolved": sorted(dissolved)}


AD, ADK = ["alice", "bob", "carol", "dave"], ["alice", "bob", "carol", "dave", "kim"]
EFG, HIJ, LN, OQ = ["erin", "frank", "gina"], ["hank", "ivan", "judy"], \
    ["lou", "max", "ned"], ["oli", "pat", "quin"]


def lineage_frames():
  """Five windows, as transforms/lineage.follow would link them:
  - A is born, grows, merges with B (A continues: it shares most), has E split off,
    and dissolves in the last window;
  - B is born and merges into A;
  - C lives in more_clusters (no hub) and dissolves;
  - D splits in two: it continues as its first half, O (the other half) is new;
  - E and O are split off, X is born in the last window; all three alive at the end."""
  return [
      frame(0, [cluster(D, LN + OQ, "born", hub="lou"), cluster(A, AD, "born"),
                cluster(B, EFG, "born")],
            [cluster(C, HIJ, "born", hub=False)]),
      frame(1, [cluster(D, LN + OQ, "continued", [(D, 6)], hub="lou"),
                cluster(A, ADK, "continued", [(A, 4)], hub="bob"),
                cluster(B, EFG, "continued", [(B, 3)])],
            [cluster(C, HIJ, "continued", [(C, 3)], hub=False)]),
      frame(2, [cluster(A, ADK + EFG, "merged", [(A, 5), (B, 3)], hub="bob"),
                cluster(D, LN + OQ, "continued", [(D, 6)], hub="lou")],
            dissolved=[C]),
      frame(3, [cluster(A, ADK, "continued", [(A, 5)], hub="bob"),
                cluster(D, LN, "continued", [(D, 3)], hub="lou"),
                cluster(E, EFG, "split", [(A, 3)])],
            [cluster(O, OQ, "split", [(D, 3)], hub=False)]),
      frame(4, [cluster(D, LN, "continued", [(D, 3)], hub="lou"),
                cluster(E, EFG, "continued", [(E, 3)]),
                cluster(X, ["xavier", "yara", "zoe"], "born")],
            [cluster(O, OQ, "continued", [(O, 3)], hub=False)], dissolved=[A]),
  ]


@pytest.fixture(name="sink")
def sink_fixture(tmp_path):
  sink = f"sqlite://{tmp_path}/lineage.db"
  store = open_store(sink)
  store.write(lineage_frames())
  store.close()
  return sink


def history_of(sink, cluster_id):
  with open_store(sink, create=False) as store:
    return cluster_history(store, cluster_id)


def steps(life):
  return [(w["window_start"], w["size"], w["change"], w["hub"]) for w in life["windows"]]


def test_a_cluster_that_merges_splits_and_dissolves(sink):
  life = history_of(sink, A)
  assert life["id"] == A
  assert steps(life) == [(at(0), 4, "born", "alice"), (at(1), 5, "continued", "bob"),
                         (at(2), 8, "merged", "bob"), (at(3), 5, "continued", "bob")]
  assert [w["frame"] for w in life["windows"]] == [f"{at(k)}-{at(k) + SIZE}" for k in range(4)]
  assert life["windows"][2]["from"] == [{"id": A, "shared": 5}, {"id": B, "shared": 3}]
  assert life["windows"][2]["split_off"] == []
  # E took 3 of its members while A went on.
  assert life["windows"][3]["split_off"] == [
      {"id": E, "shared": 3, "size": 3, "change": "split"}]
  assert life["largest"] == {"size": 8, "frame": f"{at(2)}-{at(2) + SIZE}"}
  assert life["end"] == {"how": "dissolved", "frame": f"{at(4)}-{at(4) + SIZE}",
                         "window_start": at(4), "window_end": at(4) + SIZE, "into": []}


def test_a_cluster_that_merges_into_another(sink):
  life = history_of(sink, B)
  assert steps(life) == [(at(0), 3, "born", "erin"), (at(1), 3, "continued", "erin")]
  assert life["end"]["how"] == "merged" and life["end"]["window_start"] == at(2)
  assert life["end"]["into"] == [{"id": A, "shared": 3, "size": 8, "change": "merged"}]


def test_a_cluster_in_more_clusters_has_no_hub(sink):
  life = history_of(sink, C)
  assert steps(life) == [(at(0), 3, "born", None), (at(1), 3, "continued", None)]
  assert {w["listed"] for w in life["windows"]} == {"more_clusters"}
  assert life["end"]["how"] == "dissolved" and life["end"]["window_start"] == at(2)


def test_split_off_clusters_and_the_living(sink):
  d = history_of(sink, D)
  assert [w["size"] for w in d["windows"]] == [6, 6, 6, 3, 3]
  assert d["windows"][3]["split_off"] == [{"id": O, "shared": 3, "size": 3, "change": "split"}]
  assert d["end"] == {"how": "alive", "frame": None, "window_start": None, "window_end": None,
                      "into": []}
  o = history_of(sink, O)
  assert steps(o) == [(at(3), 3, "split", None), (at(4), 3, "continued", None)]
  assert o["windows"][0]["from"] == [{"id": D, "shared": 3}] and o["end"]["how"] == "alive"
  e = history_of(sink, E)
  assert steps(e) == [(at(3), 3, "split", "erin"), (at(4), 3, "continued", "erin")]
  x = history_of(sink, X)     # born in the store's last window
  assert steps(x) == [(at(4), 3, "born", "xavier")] and x["end"]["how"] == "alive"


def test_unknown_ids_are_a_value_error(sink):
  for unknown in ("nobody", cid(2, "alice"), "", XSS, "99999999999999999999/x"):
    with pytest.raises(ValueError):
      history_of(sink, unknown)


def test_frames_are_read_once_and_from_the_birth_window():
  """store.frames() may be a generator: read once, from the window the id was born in."""
  class Store:
    def __init__(self, frames):
      self.stored, self.calls, self.read = frames, [], 0

    def frames(self, start_ms=None, end_ms=None):
      self.calls.append((start_ms, end_ms))
      for f in self.stored:
        if start_ms is None or f["window_start"] >= start_ms:
          self.read += 1
          yield f
  store = Store(lineage_frames())
  assert cluster_history(store, E)["end"]["how"] == "alive"
  assert store.calls == [(at(3), None)] and store.read == 2
  store = Store(lineage_frames())
  assert cluster_history(store, B)["end"]["how"] == "merged"
  assert store.calls == [(at(0), None)] and store.read == 3    # stops where B ended
  # Frames in store order (the page's server passes those it holds) work alike.
  assert cluster_history(iter(lineage_frames()), A) == cluster_history(Store(lineage_frames()), A)
  assert born_at(A) == at(0) and born_at("alice") is None and born_at("12a/x") is None


def test_frames_without_lineage():
  """A store written before lineage: ids are first members, no change, no successors."""
  frames = [frame(k, [{k2: v for k2, v in cluster("x", AD, "born").items()
                       if k2 not in ("from", "change")} | {"id": "alice"}])
            for k in range(2)] + [frame(2, [])]
  for f in frames:
    del f["dissolved"], f["more_clusters"]
  life = cluster_history(frames, "alice")
  assert steps(life) == [(at(0), 4, None, "alice"), (at(1), 4, None, "alice")]
  assert life["end"]["how"] == "gone"
  assert "records no successor" in render(life)


def pulse(*argv):
  out, err = io.StringIO(), io.StringIO()
  with redirect_stdout(out), redirect_stderr(err):
    code = main(list(argv))
  return code, out.getvalue(), err.getvalue()


def test_pulse_history_text(sink):
  code, out, err = pulse("history", "--sink", sink, "--cluster", A)
  assert code == 0 and not err, err
  print(out)
  lines = out.splitlines()
  assert lines[0].startswith(f"cluster {A}: 4 windows from 2015-01-01 12:00 UTC, largest 8")
  assert "hub" in lines[1] and "change" in lines[1]
  rows = lines[2:6]
  assert rows[0].split()[:5] == ["2015-01-01", "12:00-12:10", "4", "born", "alice"]
  assert rows[2].split()[2:5] == ["8", "merged", "bob"]
  assert rows[2].endswith(f"merged with {B} (3 shared)")
  assert rows[3].endswith(f"split off {E} (3 shared)")
  assert lines[6] == "dissolved: no successor in the next window (2015-01-01 12:04-12:14 UTC)"

  _, out, _ = pulse("history", "--sink", sink, "--cluster", B)
  assert out.splitlines()[-1] == (f"merged into {A} (3 shared) in the next window "
                                  "(2015-01-01 12:02-12:12 UTC)")
  _, out, _ = pulse("history", "--sink", sink, "--cluster", C)     # more_clusters: hub "-"
  assert [row.split()[4] for row in out.splitlines()[2:4]] == ["-", "-"]
  _, out, _ = pulse("history", "--sink", sink, "--cluster", O)
  assert out.splitlines()[2].endswith(f"split from {D} (3 shared)")
  assert out.splitlines()[-1] == ("still alive at the store's last window "
                                  "(2015-01-01 12:04-12:14 UTC)")


def test_pulse_history_json(sink):
  code, out, _ = pulse("history", "--sink", sink, "--cluster", D, "--json")
  assert code == 0 and json.loads(out) == history_of(sink, D)


def test_pulse_history_unknown_id_is_one_line_exit_2(sink, tmp_path):
  code, out, err = pulse("history", "--sink", sink, "--cluster", "nobody")
  assert code == 2 and not out
  assert err == "pulse history: error: no cluster 'nobody' in the store\n"
  code, _, err = pulse("history", "--sink", f"sqlite://{tmp_path}/none.db", "--cluster", A)
  assert code == 2 and len(err.splitlines()) == 1, err     # no store there: not created
  with pytest.raises(SystemExit):
    pulse("history", "--sink", sink)                        # --cluster is required


def test_logins_are_shown_escaped_in_text():
  evil = "eve\x1b[2J\x07"
  frames = [frame(0, [cluster(cid(0, evil), [evil, "zed", "zoe"], "born", hub=evil)])]
  text = render(cluster_history(frames, cid(0, evil)))
  assert "\x1b" not in text and "\x07" not in text and "eve\\x1b[2J\\x07" in text


def test_api_history(sink):
  from pulse.ui.server import create_app
  app, _, start = create_app(sink)
  start()
  http = app.test_client()
  got = http.get("/api/history?id=" + urllib.parse.quote(A))
  assert got.status_code == 200 and got.mimetype == "application/json"
  assert got.get_json() == history_of(sink, A)
  assert "script-src 'self'" in got.headers["Content-Security-Policy"]
  for unknown in (XSS, "nobody", ""):
    missing = http.get("/api/history?id=" + urllib.parse.quote(unknown))
    assert missing.status_code == 404
    assert urllib.parse.quote(unknown).encode() not in missing.data or not unknown
    assert unknown.encode() not in missing.data or not unknown
  assert http.get("/api/history").status_code == 404


def test_brokers_per_window_with_the_sizes_of_their_sides():
  """A cluster's broker links (its bridges) with the members on either side, from its
  links; text and JSON. Malformed bridges are left out, not fatal."""
  two_triangles = cluster(A, ["alice", "bob", "cat", "dan", "eve", "fay"], "born")
  two_triangles["links"] = [{"src": s, "dst": d, "type": "WatchEvent", "id": f"{s}-{d}",
                             "created_at": START}
                            for s, d in (("alice", "bob"), ("bob", "cat"), ("cat", "dan"),
                                         ("dan", "eve"), ("eve", "fay"))]
  two_triangles["bridges"] = [["cat", "dan"], ["bob", "nobody"], "junk"]
  later = dict(two_triangles, change="continued", bridges=[])
  life = cluster_history(iter([frame(0, [two_triangles]), frame(1, [later])]), A)
  assert [w["brokers"] for w in life["windows"]] == [
      [{"pair": ["cat", "dan"], "sides": [3, 3]}], []]
  text = render(life)
  assert "brokers cat-dan (3+3)" in text.splitlines()[2]
  assert "brokers" not in text.splitlines()[3]
  for junk in (7, "cat dan", None, {"cat": "dan"}, [[1, 2]]):   # a stored frame is data
    odd = dict(two_triangles, bridges=junk)
    assert cluster_history(iter([frame(0, [odd])]), A)["windows"][0]["brokers"] == []
