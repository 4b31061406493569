"""The frame-store protocol (io/stores/base.py), held by every store in the registry: write,
read by time range, summaries and a frame by id, newest stored window, idempotent
rewrites, subscribe where offered, and the registry's refusals; SQLite's indexes answer
ranges, and a store written before summaries were kept is read and migrated."""
import json
import os
import sqlite3

import orjson
import pytest

from pulse.io.stores import SCHEMES, FrameStore, check_uri, open_store
from pulse.io.stores.base import SUMMARY_FIELDS, frame_summary
from rethinkdb_double import RethinkDBDouble

MINUTE = 60_000


def frame(start, edges=1):
  return {"id": f"{start}-{start + 600_000}", "window_start": start,
          "window_end": start + 600_000, "edges": edges, "vertices": 2, "components": 1,
          "size_histogram": {"2": 1}, "clusters": []}


def clustered_frame(start, size=600_000, sizes=(5, 3), edges=9):
  """A frame whose clusters have these sizes (and a pair, unlisted)."""
  members = lambda n, k: [f"u{k}-{i}" for i in range(n)]   # noqa: E731
  return {"id": f"{start}-{start + size}", "window_start": start, "window_end": start + size,
          "edges": edges, "vertices": sum(sizes) + 2, "components": len(sizes) + 1,
          "size_histogram": {str(n): sizes.count(n) for n in sorted(set(sizes) | {2})},
          "clusters": [{"id": f"{start}/u{k}-0", "size": n, "members": members(n, k)}
                       for k, n in enumerate(sizes)]}


@pytest.fixture(params=sorted(SCHEMES))
def store_uri(request, tmp_path):
  """A URI of a fresh store of each registered scheme: a new store needs a line here."""
  if request.param == "sqlite":
    yield f"sqlite://{tmp_path}/frames.db"
  elif request.param == "jsonl":
    yield f"jsonl://{tmp_path}/frames.jsonl"
  elif request.param == "rethinkdb":
    with RethinkDBDouble() as double:
      yield f"rethinkdb://admin@{double.address}/pulse/frames"
  else:
    pytest.fail(f"no test URI for the store scheme {request.param!r}")


def _write(uri, frames):
  """Writes as the pipeline does: the store's own Beam write where it has one."""
  store_cls = SCHEMES[uri.partition("://")[0]]
  if store_cls.beam_write(uri, streaming=False) is None:
    with open_store(uri) as store:
      assert store.write(frames) == len(frames)
  else:     # jsonl: JSON lines, as WriteJsonLines leaves them (last line of an id wins)
    import json
    path = uri.partition("://")[2]
    with open(path, "a", encoding="utf-8") as f:
      f.writelines(json.dumps(fr) + "\n" for fr in frames)


def test_every_store_reads_by_time_range_and_knows_its_newest_window(store_uri):
  with open_store(store_uri) as store:
    assert isinstance(store, FrameStore)
    assert list(store.frames()) == [] and store.newest_window_end() is None
  _write(store_uri, [frame(m * MINUTE) for m in (5, 1, 3, 2, 4)])
  _write(store_uri, [frame(3 * MINUTE, edges=7)])          # a rewrite replaces
  with open_store(store_uri) as store:
    assert [f["window_start"] for f in store.frames()] == [m * MINUTE for m in range(1, 6)]
    assert [f["edges"] for f in store.frames(3 * MINUTE, 4 * MINUTE)] == [7]
    assert [f["window_start"] // MINUTE for f in store.frames(start_ms=4 * MINUTE)] == [4, 5]
    assert [f["window_start"] // MINUTE for f in store.frames(end_ms=3 * MINUTE)] == [1, 2]
    assert list(store.frames(10 * MINUTE, 20 * MINUTE)) == []
    assert store.newest_window_end() == 5 * MINUTE + 600_000


def test_every_store_gives_summaries_and_frames_of_a_time_range_and_by_id(store_uri):
  with open_store(store_uri) as store:
    assert store.summaries() == [] and store.frame("0-600000") is None
  frames = [clustered_frame(m * MINUTE, sizes=(m + 3, 3)) for m in (5, 1, 3, 2, 4)]
  # Ties on window_start come by window_end, then id; a rewrite replaces.
  frames += [clustered_frame(3 * MINUTE, size=300_000, sizes=(4,)),
             clustered_frame(3 * MINUTE, size=900_000, sizes=(7, 7, 7))]
  _write(store_uri, frames)
  rewritten = clustered_frame(2 * MINUTE, sizes=(12, 4, 3), edges=40)
  _write(store_uri, [rewritten])
  latest = {f["id"]: f for f in frames + [rewritten]}
  ordered = sorted(latest.values(),
                   key=lambda f: (f["window_start"], f["window_end"], f["id"]))
  with open_store(store_uri) as store:
    listed = store.summaries()
    assert listed == [frame_summary(f) for f in ordered]
    assert [tuple(s) for s in listed] == [SUMMARY_FIELDS] * len(ordered)
    two = listed[[s["id"] for s in listed].index(rewritten["id"])]
    assert (two["largest"], two["clustered"], two["edges"]) == (12, 19, 40)
    # Half-open: [start, end) of window_start.
    assert [s["id"] for s in store.summaries(3 * MINUTE, 4 * MINUTE)] == [
        f"{3 * MINUTE}-{3 * MINUTE + w}" for w in (300_000, 600_000, 900_000)]
    assert [s["window_start"] // MINUTE for s in store.summaries(2 * MINUTE, 3 * MINUTE)] == [2]
    assert [s["window_start"] // MINUTE for s in store.summaries(start_ms=4 * MINUTE)] == [4, 5]
    assert [s["window_start"] // MINUTE for s in store.summaries(end_ms=2 * MINUTE)] == [1]
    assert store.summaries(4 * MINUTE, 4 * MINUTE) == []
    assert store.summaries(6 * MINUTE, 60 * MINUTE) == []
    assert store.summaries(3 * MINUTE + 1, 4 * MINUTE) == []
    for f in latest.values():
      assert store.frame(f["id"]) == f
    for unknown in ("9-9", "nope", "", "x" * 500, "<img src=x onerror=alert(1)>"):
      assert store.frame(unknown) is None


def test_subscribe_is_offered_exactly_where_the_store_says(store_uri):
  with open_store(store_uri) as store:
    if store.can_subscribe:
      feed = store.subscribe(idle_s=0.5)
      _write(store_uri, [frame(0)])
      assert [f["id"] for f in feed] == [frame(0)["id"]]
    else:
      with pytest.raises(NotImplementedError):
        store.subscribe()


@pytest.mark.parametrize("uri, message", [
    ("mysql://h/db", "unknown sink 'mysql://h/db': use sqlite://PATH, jsonl://PATH, "
                     "rethinkdb://"),
    ("frames.db", "unknown sink"),
    ("sqlite://", "needs a place"),
    ("sqlite://f.db?retries=-1", "retries=.* is not a int >= 0"),
    ("rethinkdb://u:secret@h:1/bad-db/t", r"bad RethinkDB sink 'rethinkdb://u:\*\*\*@h"),
])
def test_the_registry_refuses_what_names_no_store_without_connecting(uri, message):
  with pytest.raises(ValueError, match=message):
    check_uri(uri)


def test_a_jsonl_store_reads_lines_appended_since_and_a_file_written_anew(tmp_path):
  uri = f"jsonl://{tmp_path}/frames.jsonl"
  path = uri.partition("://")[2]
  _write(uri, [clustered_frame(m * MINUTE) for m in range(3)])
  store = open_store(uri)
  assert [s["window_start"] for s in store.summaries()] == [0, MINUTE, 2 * MINUTE]
  with open(path, "a", encoding="utf-8") as f:        # appended, the last line half written
    f.write(json.dumps(clustered_frame(3 * MINUTE, sizes=(9,))) + "\n")
    f.write(json.dumps(clustered_frame(4 * MINUTE))[:40])
  assert store.summaries(start_ms=3 * MINUTE) == [frame_summary(
      clustered_frame(3 * MINUTE, sizes=(9,)))]
  with open(path, "a", encoding="utf-8") as f:
    f.write(json.dumps(clustered_frame(4 * MINUTE))[40:] + "\n")
  assert store.frame(f"{4 * MINUTE}-{4 * MINUTE + 600_000}") == clustered_frame(4 * MINUTE)
  assert len(store.summaries()) == 5
  with open(path, "w", encoding="utf-8") as f:        # written anew (a batch run's end)
    f.write(json.dumps(clustered_frame(10 * MINUTE)) + "\n")
  assert [s["window_start"] for s in store.summaries()] == [10 * MINUTE]
  assert store.frame(f"0-{600_000}") is None
  assert list(store.frames()) == [clustered_frame(10 * MINUTE)]


def _plan(db, sql, arguments):
  return " / ".join(row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + sql, arguments))


def test_sqlite_answers_time_ranges_from_its_indexes(tmp_path):
  from pulse.io.stores.sqlite_store import FRAMES_SQL, SUMMARIES_SQL
  with open_store(f"sqlite://{tmp_path}/frames.db") as store:
    store.write([clustered_frame(m * MINUTE) for m in range(50)])
    # The summaries of a range from the covering index alone, in store order (no sort);
    # the frames of a range found by it; a frame by its primary key.
    plan = _plan(store.db, SUMMARIES_SQL, (MINUTE, 9 * MINUTE))
    assert plan == ("SEARCH frames USING COVERING INDEX frames_summaries "
                    "(window_start>? AND window_start<?)"), plan
    plan = _plan(store.db, FRAMES_SQL, (MINUTE, 9 * MINUTE))
    assert "SEARCH frames USING INDEX" in plan and "(window_start>? AND window_start<?)" \
        in plan and "TEMP B-TREE" not in plan, plan
    plan = _plan(store.db, "SELECT frame FROM frames WHERE id = ?", ("x",))
    assert plan.startswith("SEARCH frames USING INDEX sqlite_autoindex_frames"), plan
    # The follower's poll by stored_at, from its own index (not every row each time).
    plan = _plan(store.db, "SELECT id, stored_at FROM frames WHERE stored_at >= ? "
                 "ORDER BY stored_at, id", (0,))
    assert plan == "SEARCH frames USING COVERING INDEX frames_by_stored_at (stored_at>?)"
    assert len(store.summaries(MINUTE, 9 * MINUTE)) == 8


def _old_store(path, frames):
  """A store as written before summaries were kept (and before stored_at)."""
  db = sqlite3.connect(path)
  db.execute("CREATE TABLE frames (id TEXT PRIMARY KEY, window_start INTEGER NOT NULL, "
             "window_end INTEGER NOT NULL, frame TEXT NOT NULL)")
  db.execute("CREATE INDEX frames_by_start ON frames (window_start)")
  db.executemany("INSERT INTO frames VALUES (?, ?, ?, ?)", [
      (f["id"], f["window_start"], f["window_end"], orjson.dumps(f).decode()) for f in frames])
  db.commit()
  db.close()


def test_a_store_written_before_summaries_is_read_as_it_is_and_migrated_by_a_writer(
    tmp_path):
  path = os.path.join(tmp_path, "old.db")
  frames = [clustered_frame(m * MINUTE, sizes=(m % 7 + 3, 3)) for m in range(450)]
  _old_store(path, frames)
  expected = [frame_summary(f) for f in frames]
  columns = lambda: [r[1] for r in sqlite3.connect(path).execute(  # noqa: E731
      "PRAGMA table_info(frames)")]
  # A reader computes the summaries from the frames, and changes nothing.
  with open_store(f"sqlite://{path}", create=False) as store:
    assert store.summaries() == expected
    assert store.summaries(10 * MINUTE, 12 * MINUTE) == expected[10:12]
    assert store.frame(frames[7]["id"]) == frames[7]
  assert columns() == ["id", "window_start", "window_end", "frame"]
  # A writer adds the columns and fills them in once (in chunks), then keeps them.
  with open_store(f"sqlite://{path}") as store:
    assert set(SUMMARY_FIELDS) <= set(columns())
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*) FROM frames WHERE clustered IS NULL").fetchone() == (0,)
    assert db.execute("PRAGMA user_version").fetchone() == (1,)
    assert store.summaries() == expected
    later = clustered_frame(450 * MINUTE, sizes=(30,))
    store.write([later])
    assert store.summaries(start_ms=450 * MINUTE) == [frame_summary(later)]
    plan = _plan(store.db, "SELECT id FROM frames WHERE stored_at >= ?", (0,))
    assert "frames_by_stored_at" in plan
  # A row an older writer wrote since (no summary columns filled): computed on reading.
  db = sqlite3.connect(path)
  with db:
    db.execute("UPDATE frames SET clustered = NULL, largest = NULL WHERE id = ?",
               (frames[3]["id"],))
  with open_store(f"sqlite://{path}", create=False) as store:
    assert store.summaries(3 * MINUTE, 4 * MINUTE) == [expected[3]]
