"""Frame stores. A store is named by a URI:
  sqlite://PATH   the embedded default; PATH is a file path (sqlite:///tmp/f.db is /tmp/f.db,
                  sqlite://out/f.db is out/f.db, relative to the working directory)
  jsonl://PATH    one file of JSON lines on any Beam filesystem (jsonl://gs://bucket/f.jsonl):
                  for Dataflow, whose workers share no disk. Written once, at the end of a
                  batch run (or appended to a local file when streaming); read back
                  keeping each id's last line.
  rethinkdb://[USER[:PASSWORD]@]HOST:PORT/DB/TABLE
                  a RethinkDB table (io/rethinkdb_store.py)
Frames are keyed by their id, so writing a frame again replaces it (idempotent reruns and
retried bundles)."""
import json
import logging
import os
import sqlite3
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pulse.io.json_lines import WriteJsonLines

LOG = logging.getLogger(__name__)


class SQLiteFrameStore:
  """Frames in one SQLite table, WAL mode so readers can follow a writer."""
  def __init__(self, path, timeout_s=30.0):
    self.path, self.timeout_s = path, timeout_s
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # Beam may call a DoFn's setup, bundles and teardown on different threads.
    self.db = sqlite3.connect(path, timeout=timeout_s, check_same_thread=False)
    self.db.execute("PRAGMA journal_mode=WAL")
    self.db.execute(
        "CREATE TABLE IF NOT EXISTS frames (id TEXT PRIMARY KEY, window_start INTEGER "
        "NOT NULL, window_end INTEGER NOT NULL, frame TEXT NOT NULL, "
        "stored_at INTEGER NOT NULL)")   # wall-clock ms of the last write: for latency
    columns = [row[1] for row in self.db.execute("PRAGMA table_info(frames)")]
    if "stored_at" not in columns:          # a store written before stored_at existed
      self.db.execute(
          "ALTER TABLE frames ADD COLUMN stored_at INTEGER NOT NULL DEFAULT 0")
    self.db.execute(
        "CREATE INDEX IF NOT EXISTS frames_by_start ON frames (window_start)")
    self.db.commit()

  def write(self, frames):
    now = int(time.time() * 1000)
    rows = [(f["id"], f["window_start"], f["window_end"],
             json.dumps(f, ensure_ascii=False), now) for f in frames]
    with self.db:
      self.db.executemany(
          "INSERT INTO frames (id, window_start, window_end, frame, stored_at) "
          "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
          "window_start=excluded.window_start, window_end=excluded.window_end, "
          "frame=excluded.frame, stored_at=excluded.stored_at", rows)
    return len(rows)

  def stored_at(self):
    """{frame id: wall-clock ms of its last write}."""
    return dict(self.db.execute("SELECT id, stored_at FROM frames"))

  def frames(self):
    """Every stored frame, ordered by window_start (then window_end)."""
    for (text,) in self.db.execute(
        "SELECT frame FROM frames ORDER BY window_start, window_end, id"):
      yield json.loads(text)

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
            yield json.loads(row[0])
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


def check_uri(uri):
  """(scheme, rest) of a store URI; ValueError if it names no store we have. Connects to
  nothing: the machine that builds a pipeline may not reach the store its workers do."""
  scheme, sep, rest = uri.partition("://")
  if not sep or scheme not in ("sqlite", "jsonl", "rethinkdb"):
    raise ValueError(f"unknown sink {uri!r}: use sqlite://PATH, jsonl://PATH or "
                     "rethinkdb://HOST:PORT/DB/TABLE")
  if not rest:
    raise ValueError(f"{scheme}:// needs a place, e.g. sqlite:///tmp/frames.db, "
                     "jsonl://gs://bucket/frames.jsonl, rethinkdb://127.0.0.1:28015/pulse/frames")
  if scheme == "rethinkdb":
    from pulse.io.rethinkdb_store import parse_uri
    parse_uri(uri)
  return scheme, rest


def open_store(uri):
  scheme, rest = check_uri(uri)
  if scheme == "sqlite":
    return SQLiteFrameStore(rest)
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
