"""The RethinkDB frame store against the wire-protocol test double (rethinkdb_double.py)
and, when env RETHINKDB_URL is set (rethinkdb://[USER[:PASSWORD]@]HOST:PORT, an admin),
against that real server too. Tests that kill the server run on the double only."""
import logging
import os
import threading
import time
import uuid

import apache_beam as beam
import pytest
from rethinkdb import RethinkDB
from rethinkdb.errors import ReqlQueryLogicError

from helpers import HOURS, make_runner, stored_frames
from pulse.io.stores import open_store
from pulse.io.stores.rethinkdb_store import (PASSWORD_ENV, RethinkDBFrameStore,
                                             RethinkDBStoreError, parse_uri)
from pulse.io.stores.sqlite_store import SQLiteFrameStore
from pulse.io.uris import redact
from pulse.pipeline import graph
from pulse.pipeline.run import pipeline_options
from rethinkdb_double import QUERY, RESPONSE, TERM, RethinkDBDouble

SECRET = "s3cr3t-Pa55-7Qz"           # a password no message could contain by chance
REAL_URL = os.environ.get("RETHINKDB_URL")
r = RethinkDB()


def frame(start, end=None, edges=1):
  end = start + 600_000 if end is None else end
  return {"id": f"{start}-{end}", "window_start": start, "window_end": end,
          "edges": edges, "vertices": 2, "components": 1, "size_histogram": {"2": 1},
          "clusters": [{"size": 2, "hub": "a", "members": ["a", "b"],
                        "links": [["a", "b"]]}]}


class Server:
  """Where the tests' stores live: the double, or the real server of RETHINKDB_URL."""
  def __init__(self, double=None):
    self.double = double
    spec = parse_uri((REAL_URL.rstrip("/") + "/x/x") if double is None
                     else f"rethinkdb://{double.address}/x/x")
    self.host, self.port = spec["host"], spec["port"]
    self.admin = (spec["user"], spec["password"] or "")
    self.db = "pulse_test_" + uuid.uuid4().hex[:10]
    self.user = "pulse_test_" + uuid.uuid4().hex[:6]

  @property
  def address(self):
    return f"{self.host}:{self.port}"

  def uri(self, table="frames", user=None, password=None, **options):
    user, password = (user, password) if user else self.admin
    auth = f"{user}:{password}@" if password else f"{user}@"
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return f"rethinkdb://{auth}{self.address}/{self.db}/{table}" + (
        "?" + query if query else "")

  def connect(self):
    return r.connect(self.host, self.port, user=self.admin[0], password=self.admin[1])

  def add_user(self, password):
    """A user with a password and rights on this test's database."""
    if self.double is not None:
      self.double.users[self.user] = password
      return self.user
    with self.connect() as conn:
      r.db("rethinkdb").table("users").insert({"id": self.user, "password": password}).run(
          conn)
      r.grant(self.user, {"read": True, "write": True, "config": True}).run(conn)
    return self.user

  def cleanup(self):
    if self.double is None:
      with self.connect() as conn:
        if self.db in r.db_list().run(conn):
          r.db_drop(self.db).run(conn)
        r.db("rethinkdb").table("users").get(self.user).delete().run(conn)


@pytest.fixture(params=["double", "real"])
def server(request):
  if request.param == "real" and not REAL_URL:
    pytest.skip("set RETHINKDB_URL=rethinkdb://USER:PASSWORD@HOST:PORT for a real server")
  double = RethinkDBDouble() if request.param == "double" else None
  server = Server(double)
  try:
    yield server
  finally:
    server.cleanup()
    if double:
      double.stop()


@pytest.fixture
def double_server():
  with RethinkDBDouble() as double:
    yield Server(double)


def test_the_double_uses_the_drivers_protocol_numbers():
  from rethinkdb import ql2_pb2
  assert {k: getattr(ql2_pb2.Query.QueryType, k) for k in QUERY} == QUERY
  assert {k: getattr(ql2_pb2.Response.ResponseType, k) for k in RESPONSE} == RESPONSE
  assert {k: getattr(ql2_pb2.Term.TermType, k) for k in TERM} == TERM
  assert ql2_pb2.VersionDummy.Version.V1_0.to_bytes(4, "little") == bytes.fromhex(
      "c3bdc234")


def test_the_double_names_a_term_it_does_not_implement(double_server):
  RethinkDBFrameStore(double_server.uri()).close()
  with double_server.connect() as conn:
    with pytest.raises(ReqlQueryLogicError, match=r"does not implement term COUNT \(43\)"):
      r.db(double_server.db).table("frames").count().run(conn)


def test_the_double_batches_sequences_and_stops_cursors(double_server):
  store = RethinkDBFrameStore(double_server.uri())
  store.write([frame(s * 60_000) for s in range(120)])     # more than one batch
  with double_server.connect() as conn:
    table = r.db(double_server.db).table("frames")
    feed = table.changes().run(conn)
    store.write([frame(0, edges=7)])
    assert feed.next(wait=2)["new_val"]["edges"] == 7
    feed.close()                                           # STOP on a changefeed
    cursor = table.order_by(index="window_end").run(conn)
    assert next(cursor)["window_end"] == 600_000
    cursor.close()                                         # STOP mid-sequence
    assert len(list(table.order_by(index="window_start").run(conn))) == 120
  store.close()


def test_uris_parse_and_show_redacted():
  spec = parse_uri("rethinkdb://bob:p%40ss@db.example:29015/pulse/frames?retry_s=2&batch=9")
  assert (spec["user"], spec["password"], spec["host"], spec["port"]) == (
      "bob", "p@ss", "db.example", 29015)
  assert (spec["db"], spec["table"], spec["retry_s"], spec["batch"]) == (
      "pulse", "frames", 2.0, 9)
  assert parse_uri("rethinkdb://h/d/t")["port"] == 28015
  assert parse_uri("rethinkdb://h/d/t")["user"] == "admin"
  assert redact("rethinkdb://bob:p@ss@h:1/d/t") == "rethinkdb://bob:***@h:1/d/t"
  for bad in ("rethinkdb://bob:pw@h:1/d", "rethinkdb://bob:pw@h:x/d/t",
              "rethinkdb://bob:pw@h:1/d/t-1", "rethinkdb://bob:pw@h:1/d/t?nope=1"):
    with pytest.raises(ValueError) as error:
      parse_uri(bad)
    assert "pw" not in str(error.value) and "***" in str(error.value)


def test_creates_database_table_and_indexes_if_missing(server):
  store = open_store(server.uri())
  store.close()
  store = open_store(server.uri())          # all there already: opens as it is
  assert isinstance(store, RethinkDBFrameStore)
  assert list(store.frames()) == [] and store.newest_window_end() is None
  store.close()
  with server.connect() as conn:
    assert server.db in r.db_list().run(conn)
    assert "frames" in r.db(server.db).table_list().run(conn)
    table = r.db(server.db).table("frames")
    assert {"window_start", "window_end"} <= set(table.index_list().run(conn))


def test_rerun_replaces_without_duplicates_and_orders_by_window_start(server):
  store = open_store(server.uri(batch=7))
  frames = [frame(s * 60_000) for s in range(30, 0, -1)]
  frames.append(frame(60_000, 300_000))      # same start, shorter: sorts first
  assert store.write(frames) == 31
  first = store.stored_at()
  time.sleep(0.01)
  changed = [dict(f, edges=99) for f in frames[:5]]
  store.write(changed)                        # a rerun of some windows
  stored = list(store.frames())
  expected = {f["id"]: f for f in frames + changed}
  assert len(stored) == 31 and {f["id"] for f in stored} == set(expected)
  assert stored == sorted(expected.values(),
                          key=lambda f: (f["window_start"], f["window_end"], f["id"]))
  assert all("stored_at" not in f for f in stored)
  assert store.newest_window_end() == 30 * 60_000 + 600_000
  later = store.stored_at()
  assert set(later) == set(expected)
  assert all(later[f["id"]] > first[f["id"]] for f in changed)
  store.close()


def test_summaries_and_frames_by_time_range_and_id(server):
  """Ranges from the window_start index ([start, end), store order), summaries plucked on
  the server, a frame by its primary key."""
  from pulse.io.stores.base import frame_summary
  store = open_store(server.uri(batch=7))
  frames = [frame(s * 60_000, edges=s) for s in range(40, 0, -1)]
  frames.append(frame(60_000, 300_000))      # same start, shorter: sorts first
  store.write(frames)
  ordered = sorted(frames, key=lambda f: (f["window_start"], f["window_end"], f["id"]))
  assert store.summaries() == [frame_summary(f) for f in ordered]
  assert store.summaries()[0] == {"id": "60000-300000", "window_start": 60_000,
                                  "window_end": 300_000, "edges": 1, "vertices": 2,
                                  "components": 1, "largest": 2, "clustered": 2}
  assert [s["edges"] for s in store.summaries(10 * 60_000, 13 * 60_000)] == [10, 11, 12]
  assert [s["window_start"] for s in store.summaries(start_ms=39 * 60_000)] == [
      39 * 60_000, 40 * 60_000]
  assert [s["id"] for s in store.summaries(end_ms=2 * 60_000)] == [
      "60000-300000", "60000-660000"]
  assert store.summaries(50 * 60_000, 60 * 60_000) == []
  assert store.summaries(5 * 60_000, 5 * 60_000) == []
  assert store.frame("600000-1200000") == frame(600_000, edges=10)
  assert all(store.frame(bad) is None for bad in ("1-2", "", "x" * 200, "\u00e9" * 100))
  store.close()


def test_the_double_gets_by_key_and_plucks_nested_fields(double_server):
  RethinkDBFrameStore(double_server.uri()).close()
  with double_server.connect() as conn:
    table = r.db(double_server.db).table("frames")
    table.insert([frame(0), frame(60_000)]).run(conn)
    assert table.get("0-600000").run(conn) == frame(0)
    assert table.get("nope").run(conn) is None
    with pytest.raises(ReqlQueryLogicError, match="Primary key too long"):
      table.get("k" * 128).run(conn)
    picked = list(table.order_by(index="window_start").pluck(
        "id", {"clusters": ["size", "hub"]}, {"size_histogram": True}).run(conn))
    assert picked == [{"id": f["id"], "size_histogram": {"2": 1},
                       "clusters": [{"size": 2, "hub": "a"}]} for f in (frame(0), frame(60_000))]
    assert table.get("0-600000").pluck({"clusters": "members"}).run(conn) == {
        "clusters": [{"members": ["a", "b"]}]}


def test_a_password_from_env_is_never_shown(server, monkeypatch, caplog):
  caplog.set_level(logging.DEBUG)
  user = server.add_user(SECRET)
  monkeypatch.setenv(PASSWORD_ENV, SECRET)
  uri = server.uri(user=user, retry_s=0.5)
  store = open_store(uri)
  store.write([frame(0)])
  texts = [repr(store), str(store), caplog.text]
  if server.double:                           # and when the server goes away mid-run
    server.double.stop()
    with pytest.raises(RethinkDBStoreError) as error:
      store.write([frame(60_000)])
    texts += [str(error.value), repr(error.value), caplog.text]
    server.double.start()
  monkeypatch.setenv(PASSWORD_ENV, SECRET + "x")
  with pytest.raises(RethinkDBStoreError) as error:
    open_store(uri)
  texts += [str(error.value), repr(error.value), caplog.text]
  assert not [t for t in texts if SECRET in t]
  store.close()


def test_a_wrong_password_is_a_clear_error_at_once(server, caplog):
  user = server.add_user(SECRET)
  started = time.monotonic()
  with pytest.raises(RethinkDBStoreError) as error:
    open_store(server.uri(user=user, password="not-" + SECRET))
  message = str(error.value)
  assert "Wrong password" in message and server.address in message and user in message
  assert SECRET not in message + caplog.text
  assert time.monotonic() - started < 2          # no retries for a refusal


def test_server_back_within_the_retry_budget_loses_nothing(double_server, caplog):
  store = open_store(double_server.uri(retry_s=10, batch=3))
  store.write([frame(s * 60_000) for s in range(5)])
  double_server.double.stop()
  threading.Timer(1.0, double_server.double.start).start()
  started = time.monotonic()
  assert store.write([frame(s * 60_000) for s in range(5, 12)]) == 7
  assert 0.8 < time.monotonic() - started < 5
  assert [f["window_start"] for f in store.frames()] == [s * 60_000 for s in range(12)]
  assert "retry" in caplog.text and double_server.address in caplog.text
  double_server.double.restart()               # a restart between two queries
  assert store.newest_window_end() == 11 * 60_000 + 600_000
  store.close()


def test_server_down_past_the_budget_names_it_and_counts_unwritten_frames(double_server):
  store = open_store(double_server.uri(retry_s=1, batch=4))
  double_server.double.stop()
  started = time.monotonic()
  with pytest.raises(RethinkDBStoreError) as error:
    store.write([frame(s * 60_000) for s in range(10)])
  assert time.monotonic() - started < 3
  message = str(error.value)
  assert double_server.address in message and "10 of 10 frame(s) not written" in message
  assert "writing 4 frame(s)" in message and "Connection refused" in message
  double_server.double.start()                 # the caller retries: nothing half-done
  store.write([frame(s * 60_000) for s in range(10)])
  assert len(list(store.frames())) == 10
  store.close()


def _take(feed, done, within_s):
  """Frames from feed until done(frames) or within_s is up."""
  got, deadline = [], time.monotonic() + within_s
  for f in feed:
    got.append(f)
    if done(got) or time.monotonic() > deadline:
      break
  feed.close()
  return got


@pytest.fixture(params=["rethinkdb-double", "rethinkdb-real", "sqlite"])
def two_stores(request, tmp_path):
  """A reader and a writer on separate connections to one store."""
  if request.param == "sqlite":
    path = str(tmp_path / "frames.db")
    stores = [SQLiteFrameStore(path), SQLiteFrameStore(path)]
    yield stores
  else:
    if request.param == "rethinkdb-real" and not REAL_URL:
      pytest.skip("set RETHINKDB_URL for a real server")
    double = RethinkDBDouble() if request.param == "rethinkdb-double" else None
    server = Server(double)
    stores = [open_store(server.uri()), open_store(server.uri())]
    yield stores
    server.cleanup()
    if double:
      double.stop()
  for store in stores:
    store.close()


def test_subscribe_yields_frames_written_by_another_connection(two_stores):
  reader, writer = two_stores
  writer.write([frame(0)])                   # before the call: not yielded
  feed = reader.subscribe(idle_s=3)
  started = time.monotonic()
  writer.write([frame(60_000), frame(120_000)])
  writer.write([frame(60_000, edges=5)])     # a rewrite comes (again, unless between polls)
  rewritten = lambda got: got[-1]["edges"] == 5 and len({f["id"] for f in got}) == 2  # noqa
  got = _take(feed, rewritten, within_s=3)
  assert time.monotonic() - started < 1.5
  assert rewritten(got) and len(got) <= 3
  assert {f["id"] for f in got} == {frame(60_000)["id"], frame(120_000)["id"]}
  assert all("stored_at" not in f for f in got)


def test_subscribe_since_starts_with_later_writes(two_stores):
  reader, writer = two_stores
  writer.write([frame(0)])
  time.sleep(0.01)
  since = int(time.time() * 1000)
  time.sleep(0.01)
  writer.write([frame(60_000)])
  feed = reader.subscribe(since=since, idle_s=1)
  time.sleep(0.01)          # stamps are wall-clock ms: writes in one ms have no order
  writer.write([frame(120_000)])
  assert [f["id"] for f in _take(feed, lambda got: len(got) == 2, within_s=3)] == [
      frame(60_000)["id"], frame(120_000)["id"]]


def test_the_pipeline_stores_the_same_frames_as_in_sqlite(server, tmp_path):
  flags = ["--window_size=300", "--window_period=60"]
  reference = make_runner(tmp_path)(HOURS["2011"], *flags).frames
  options = pipeline_options([
      f"--input={HOURS['2011']}", f"--sink={server.uri()}",
      f"--dead_letter_output={tmp_path / 'dead.jsonl'}", *flags])
  with beam.Pipeline(options=options) as pipeline:
    graph.build(pipeline, options)
  assert reference and stored_frames(server.uri()) == reference
