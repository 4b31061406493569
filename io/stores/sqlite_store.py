"""Frames in an SQLite file, the embedded default:
  sqlite://PATH[?retry_s=30&retries=10&timeout_s=5]
PATH is a file path (sqlite:///tmp/f.db is /tmp/f.db, sqlite://out/f.db is out/f.db,
relative to the working directory); the options are the retry budget (io/stores/retry.py).
WAL mode, so readers (pulse ui, export) follow a writer."""
import os
import sqlite3
import time

import orjson

from pulse.io.stores.base import FrameStore
from pulse.io.stores.retry import RETRY_DEFAULTS, RETRY_OPTIONS, RetryBudget
from pulse.io.uris import redact, uri_options

__all__ = ["SQLiteFrameStore"]


def _locked(error):
  # SQLITE_BUSY / SQLITE_LOCKED: another connection holds the write lock.
  return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


class SQLiteFrameStore(FrameStore):
  """Frames in one SQLite table. A write waits for another writer's lock within the retry
  budget."""
  SCHEME = "sqlite"
  FORMAT = "sqlite://PATH"
  can_subscribe = True

  @classmethod
  def parse_uri(cls, uri):
    """(path, retry options) of sqlite://PATH[?OPTION=VALUE&...]."""
    _, _, rest = uri.partition("://")
    path, _, query = rest.partition("?")
    if not path:
      raise ValueError(f"sink {redact(uri)!r} names no file: use sqlite://PATH")
    return path, uri_options(query, RETRY_OPTIONS, RETRY_DEFAULTS, redact(uri))

  @classmethod
  def check_uri(cls, uri):
    cls.parse_uri(uri)

  @classmethod
  def open(cls, uri):
    path, options = cls.parse_uri(uri)
    return cls(path, **options)

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

  def frames(self, start_ms=None, end_ms=None):
    # Bounds in SQL, so the window_start index answers a time range.
    low = -(1 << 63) if start_ms is None else start_ms
    high = (1 << 63) - 1 if end_ms is None else end_ms - 1
    for (text,) in self.db.execute(
        "SELECT frame FROM frames WHERE window_start BETWEEN ? AND ? "
        "ORDER BY window_start, window_end, id", (low, high)):
      yield orjson.loads(text)

  def newest_window_end(self):
    return self.db.execute("SELECT MAX(window_end) FROM frames").fetchone()[0]

  def subscribe(self, since=None, idle_s=None, poll_s=0.2, lookback_ms=60_000):
    """As FrameStore.subscribe, polling stored_at every poll_s on a connection of its
    own. A frame rewritten between polls comes once, as last written. Writers stamp
    before they commit, so rows are re-read for lookback_ms behind the newest stamp
    seen."""
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
