"""Frame stores. A store is named by a URI:
  sqlite://PATH[?retry_s=30&retries=10&timeout_s=5]
                  the embedded default; PATH is a file path (sqlite:///tmp/f.db is /tmp/f.db,
                  sqlite://out/f.db is out/f.db, relative to the working directory)
  jsonl://PATH    one file of JSON lines on any Beam filesystem (jsonl://gs://bucket/f.jsonl):
                  for Dataflow, whose workers share no disk. Written once, at the end of a
                  batch run (or appended to a local file when streaming); read back
                  keeping each id's last line.
  rethinkdb://[USER[:PASSWORD]@]HOST:PORT/DB/TABLE
                  a RethinkDB table (io/rethinkdb_store.py)
Frames are keyed by their id, so writing a frame again replaces it (idempotent reruns and
retried bundles).

The stores that retry (sqlite, rethinkdb) share one retry budget, set in the URI: a write
that fails for a passing reason (SQLite: another connection holds the write lock;
RethinkDB: the connection) is tried again with exponential backoff, each attempt waiting
at most timeout_s, until retry_s seconds or `retries` retries are spent; then
FrameStoreError names the store, what failed, how long it tried and how many frames were
not written."""
import json
import logging
import os
import sqlite3
import time
import urllib.parse

import apache_beam as beam
import orjson
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pulse.io.json_lines import WriteJsonLines

LOG = logging.getLogger(__name__)
RETRY_OPTIONS = {"retry_s": float, "retries": int, "timeout_s": float}
RETRY_DEFAULTS = {"retry_s": 30.0, "retries": 10, "timeout_s": 5.0}
FIRST_DELAY_S, MAX_DELAY_S = 0.1, 5.0


class FrameStoreError(RuntimeError):
  """A store operation that failed for good (retry budget spent, or refused)."""


def uri_password(uri):
  """The PASSWORD of SCHEME://USER:PASSWORD@..., else None."""
  _, sep, rest = uri.partition("://")
  userinfo, at, _ = rest.rpartition("@")
  _, colon, password = userinfo.partition(":")
  return password if sep and at and colon else None


def redact(uri):
  """uri with any password replaced by ***."""
  password = uri_password(uri)
  return uri if password is None else uri.replace(f":{password}@", ":***@", 1)


def uri_options(query, types, defaults, shown):
  """defaults updated from a URI's query (NAME=VALUE&...), each converted by types[NAME];
  ValueError naming the URI as `shown` (redacted) on an unknown name or a bad value."""
  options = dict(defaults)
  for key, values in urllib.parse.parse_qs(query, keep_blank_values=True).items():
    if key not in types:
      raise ValueError(f"unknown option {key!r} in sink {shown!r}: known are "
                       f"{', '.join(types)}")
    try:
      options[key] = types[key](values[-1])
      if options[key] < 0:
        raise ValueError
    except ValueError:
      raise ValueError(f"option {key}={values[-1]!r} in {shown!r} is not a "
                       f"{types[key].__name__} >= 0") from None
  return options


class RetryBudget:
  """Runs a store operation again while it fails for a passing reason, with exponential
  backoff, within retry_s seconds and `retries` retries (see the module docstring)."""
  def __init__(self, where, retry_s, retries, timeout_s, transient, scrub=str,
               error=FrameStoreError):
    self.where, self.retry_s, self.retries = where, retry_s, retries
    self.timeout_s = timeout_s
    self.transient, self.scrub, self.error = transient, scrub, error

  def run(self, what, attempt, unwritten=None, recover=None):
    """attempt(timeout_s), the seconds it may wait (less at the end of the budget);
    recover() after each failed attempt, e.g. to drop a broken connection."""
    started = time.monotonic()
    delay, tries = FIRST_DELAY_S, 0
    while True:
      tries += 1
      try:
        return attempt(max(0.1, min(self.timeout_s,
                                    self.retry_s - (time.monotonic() - started))))
      except Exception as e:
        if not self.transient(e):
          raise
        if recover:
          recover()
        reason = self.scrub(f"{type(e).__name__}: {e}".splitlines()[0])
        elapsed = time.monotonic() - started
        if tries > self.retries or elapsed >= self.retry_s:
          lost = f"; {unwritten} not written" if unwritten else ""
          raise self.error(
              f"{self.where}: {what} failed after {tries} attempt(s) over {elapsed:.1f} s "
              f"(retry budget {self.retry_s:g} s, {self.retries} retries): "
              f"{reason}{lost}") from None
        wait = min(delay, MAX_DELAY_S, self.retry_s - elapsed)   # the last try at the end
        LOG.warning("%s: %s failed (%s); retry %d in %.2f s", self.where, what, reason,
                    tries, wait)
        time.sleep(wait)
        delay *= 2


def _locked(error):
  # SQLITE_BUSY / SQLITE_LOCKED: another connection holds the write lock.
  return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


class SQLiteFrameStore:
  """Frames in one SQLite table, WAL mode so readers can follow a writer. A write waits
  for another writer's lock within the retry budget."""
  def __init__(self, path, retry_s=RETRY_DEFAULTS["retry_s"],
               retries=RETRY_DEFAULTS["retries"], timeout_s=RETRY_DEFAULTS["timeout_s"]):
    self.path, self.timeout_s = path, timeout_s
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    self.budget = RetryBudget(f"SQLite database {os.path.abspath(path)}", retry_s, retries,
                              timeout_s, _locked)
    # Beam may call a DoFn's setup, bundles and teardown on different threads.
    self.db = sqlite3.connect(path, timeout=timeout_s, check_same_thread=False)
    self.budget.run("creating the frames table", self._create_if_missing,
                    recover=self.db.rollback)

  def _waiting(self, timeout_s):
    """The connection, waiting at most timeout_s for another writer's lock."""
    self.db.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
    return self.db

  def _create_if_missing(self, timeout_s):
    # Only what is missing: DDL takes the write lock even when there is nothing to do, and
    # a reader (pulse ui, export) should not wait for another writer.
    db = self._waiting(timeout_s)
    db.execute("PRAGMA journal_mode=WAL")
    columns = [row[1] for row in db.execute("PRAGMA table_info(frames)")]
    if not columns:
      db.execute(
          "CREATE TABLE IF NOT EXISTS frames (id TEXT PRIMARY KEY, window_start INTEGER "
          "NOT NULL, window_end INTEGER NOT NULL, frame TEXT NOT NULL, "
          "stored_at INTEGER NOT NULL)")   # wall-clock ms of the last write: for latency
    elif "stored_at" not in columns:          # a store written before stored_at existed
      db.execute("ALTER TABLE frames ADD COLUMN stored_at INTEGER NOT NULL DEFAULT 0")
    if "frames_by_start" not in [row[1] for row in db.execute("PRAGMA index_list(frames)")]:
      db.execute("CREATE INDEX IF NOT EXISTS frames_by_start ON frames (window_start)")
    db.commit()

  def write(self, frames):
    texts = [(f["id"], f["window_start"], f["window_end"],
              orjson.dumps(f).decode()) for f in frames]
    self.budget.run(f"writing {len(texts)} frame(s)", lambda timeout_s: self._insert(
        texts, timeout_s), unwritten=f"{len(texts)} of {len(texts)} frame(s)")
    return len(texts)

  def _insert(self, texts, timeout_s):
    db = self._waiting(timeout_s)
    now = int(time.time() * 1000)   # per attempt: at most timeout_s before the commit
    with db:                        # one transaction: all frames or none
      db.executemany(
          "INSERT INTO frames (id, window_start, window_end, frame, stored_at) "
          "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
          "window_start=excluded.window_start, window_end=excluded.window_end, "
          "frame=excluded.frame, stored_at=excluded.stored_at",
          [row + (now,) for row in texts])

  def stored_at(self):
    """{frame id: wall-clock ms of its last write}."""
    return dict(self.db.execute("SELECT id, stored_at FROM frames"))

  def frames(self):
    """Every stored frame, ordered by window_start (then window_end)."""
    for (text,) in self.db.execute(
        "SELECT frame FROM frames ORDER BY window_start, window_end, id"):
      yield orjson.loads(text)

  def max_window_end(self):
    """The latest window_end stored, or None for an empty store."""
    return self.db.execute("SELECT MAX(window_end) FROM frames").fetchone()[0]

  def subscribe(self, since=None, poll_s=0.2, idle_s=None, lookback_ms=60_000):
    """Frames as they land (new or rewritten), oldest write first, polling stored_at on
    a connection of its own: those written after this call, or with `since` (wall-clock
    ms) first the stored frames last written after it. A frame rewritten between polls
    comes once, as last written. Writers stamp before they commit, so rows are re-read
    for lookback_ms behind the newest stamp seen. With idle_s the generator ends after
    that long without a frame."""
    db = sqlite3.connect(self.path, timeout=self.timeout_s, check_same_thread=False)
    if since is None:
      newest = db.execute("SELECT MAX(stored_at) FROM frames").fetchone()[0] or 0
      floor = newest - lookback_ms
      seen = dict(db.execute("SELECT id, stored_at FROM frames WHERE stored_at >= ?",
                             (floor,)))
    else:
      floor, seen = since + 1, {}
    return self._follow(db, floor, seen, poll_s, idle_s, lookback_ms)

  @staticmethod
  def _follow(db, floor, seen, poll_s, idle_s, lookback_ms):
    try:
      quiet_since = time.monotonic()
      while True:
        rows = db.execute("SELECT id, stored_at FROM frames WHERE stored_at >= ? "
                          "ORDER BY stored_at, id", (floor,)).fetchall()
        new = [(i, at) for i, at in rows if seen.get(i) != at]
        for frame_id, at in new:
          row = db.execute("SELECT frame FROM frames WHERE id = ? AND stored_at = ?",
                           (frame_id, at)).fetchone()
          seen[frame_id] = at
          if row:                     # else rewritten since: the next poll has it
            yield orjson.loads(row[0])
        if rows:
          floor = max(floor, rows[-1][1] - lookback_ms)
          seen = {i: at for i, at in seen.items() if at >= floor}
        if new:
          quiet_since = time.monotonic()
        elif idle_s is not None and time.monotonic() - quiet_since >= idle_s:
          return
        else:
          time.sleep(poll_s)
    finally:
      db.close()

  def close(self):
    self.db.close()


class JsonLinesFrames:
  """Read side of a jsonl:// sink (the pipeline writes it with WriteJsonLines)."""
  def __init__(self, path):
    self.path = path

  def frames(self):
    if not FileSystems.exists(self.path):
      return
    latest = {}
    with FileSystems.open(self.path) as f:
      for line in f:
        if line.strip():
          frame = json.loads(line)
          latest[frame["id"]] = frame
    yield from sorted(latest.values(),
                      key=lambda f: (f["window_start"], f["window_end"], f["id"]))

  def max_window_end(self):
    return max((f["window_end"] for f in self.frames()), default=None)

  def close(self):
    pass


def sqlite_spec(rest, uri):
  """(path, options) of sqlite://PATH[?OPTION=VALUE&...] (rest: what follows ://)."""
  path, _, query = rest.partition("?")
  if not path:
    raise ValueError(f"sink {redact(uri)!r} names no file: use sqlite://PATH")
  return path, uri_options(query, RETRY_OPTIONS, RETRY_DEFAULTS, redact(uri))


def check_uri(uri):
  """(scheme, rest) of a store URI; ValueError if it names no store we have. Connects to
  nothing: the machine that builds a pipeline may not reach the store its workers do."""
  scheme, sep, rest = uri.partition("://")
  if not sep or scheme not in ("sqlite", "jsonl", "rethinkdb"):
    raise ValueError(f"unknown sink {redact(uri)!r}: use sqlite://PATH, jsonl://PATH or "
                     "rethinkdb://HOST:PORT/DB/TABLE")
  if not rest:
    raise ValueError(f"{scheme}:// needs a place, e.g. sqlite:///tmp/frames.db, "
                     "jsonl://gs://bucket/frames.jsonl, rethinkdb://127.0.0.1:28015/pulse/frames")
  if scheme == "sqlite":
    sqlite_spec(rest, uri)
  if scheme == "rethinkdb":
    from pulse.io.rethinkdb_store import parse_uri
    parse_uri(uri)
  return scheme, rest


def open_store(uri):
  scheme, rest = check_uri(uri)
  if scheme == "sqlite":
    path, options = sqlite_spec(rest, uri)
    return SQLiteFrameStore(path, **options)
  if scheme == "jsonl":
    return JsonLinesFrames(rest)
  from pulse.io.rethinkdb_store import RethinkDBFrameStore
  return RethinkDBFrameStore(uri)


class WriteFrames(beam.PTransform):
  """Frames -> the store at `uri`, one transaction per bundle."""
  def __init__(self, uri):
    super().__init__()
    check_uri(uri)               # fail at construction on a bad URI, not on a worker
    self.uri = uri

  def expand(self, frames):
    if self.uri.startswith("jsonl://"):
      return (frames
              | "Count" >> beam.ParDo(_CountFramesFn())
              | "Store" >> WriteJsonLines(self.uri[len("jsonl://"):],
                                          streaming=not frames.is_bounded))
    return frames | "Store" >> beam.ParDo(_WriteFramesFn(self.uri))


class _CountFramesFn(beam.DoFn):
  def __init__(self):
    self.written = Metrics.counter("pulse", "frames_written")

  def process(self, frame):
    self.written.inc()
    yield frame


class _WriteFramesFn(beam.DoFn):
  def __init__(self, uri):
    self.uri = uri
    self.written = Metrics.counter("pulse", "frames_written")

  def setup(self):
    self.store = open_store(self.uri)

  def start_bundle(self):
    self.batch = []

  def process(self, frame):
    self.batch.append(frame)

  def finish_bundle(self):
    if self.batch:
      self.written.inc(self.store.write(self.batch))
      latest = max(self.batch, key=lambda f: f["window_end"])
      LOG.info("stored %d frame(s), latest %s: %d edges, largest cluster %d",
               len(self.batch), latest["id"], latest["edges"],
               latest["clusters"][0]["size"] if latest["clusters"] else 0)
      self.batch = []

  def teardown(self):
    self.store.close()
