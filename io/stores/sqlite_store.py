"""Frames in an SQLite file, the embedded default:
  sqlite://PATH[?retry_s=30&retries=10&timeout_s=5]
PATH is a file path (sqlite:///tmp/f.db is /tmp/f.db, sqlite://out/f.db is out/f.db,
relative to the working directory); the options are the retry budget (io/stores/retry.py).
WAL mode, so readers (pulse ui, export) follow a writer."""
import os
import sqlite3
import time
import urllib.parse

import orjson

from pulse.io.json_lines import check_local_output
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
  can_keep_panes = True

  @classmethod
  def parse_uri(cls, uri):
    """(path, retry options) of sqlite://PATH[?OPTION=VALUE&...]."""
    _, _, rest = uri.partition("://")
    path, _, query = rest.partition("?")
    if not path:
      raise ValueError(f"sink {redact(uri)!r} names no file: use sqlite://PATH")
    if path == ":memory:" or path.startswith("file:"):
      raise ValueError(f"sink {redact(uri)!r}: frames must outlive the run (and be seen "
                       "by every worker): name a file, sqlite://PATH")
    return path, uri_options(query, RETRY_OPTIONS, RETRY_DEFAULTS, redact(uri))

  @classmethod
  def check_uri(cls, uri):
    cls.parse_uri(uri)

  @classmethod
  def open(cls, uri, create=True):
    path, options = cls.parse_uri(uri)
    return cls(path, create=create, **options)

  @classmethod
  def local_path(cls, uri):
    return os.path.abspath(cls.parse_uri(uri)[0])

  @classmethod
  def check_writable(cls, uri):
    path = cls.local_path(uri)
    if not os.path.exists(path) or os.path.isdir(path):   # made by the run, not here
      check_local_output(path, f"the frame store {redact(uri)}")
      return
    try:
      cls.open(uri).close()
    except (OSError, sqlite3.Error) as error:
      raise ValueError(f"cannot write the frame store {redact(uri)}: {error} "
                       f"({path})") from None

  def __init__(self, path, retry_s=RETRY_DEFAULTS["retry_s"],
               retries=RETRY_DEFAULTS["retries"], timeout_s=RETRY_DEFAULTS["timeout_s"],
               create=True):
    self.path, self.timeout_s = path, timeout_s
    self.budget = RetryBudget(f"SQLite database {os.path.abspath(path)}", retry_s, retries,
                              timeout_s, _locked)
    if create:
      os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    elif not os.path.isfile(path):
      raise ValueError(f"no frame store at sqlite://{path}: {os.path.abspath(path)} does "
                       "not exist (`pulse run --sink` makes one)")
    # Beam may call a DoFn's setup, bundles and teardown on different threads. A reader
    # opens the file as it is, never creating one.
    self.db = sqlite3.connect(
        path if create else f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=rw",
        timeout=timeout_s, check_same_thread=False, uri=not create)
    if create:
      self.budget.run("creating the frames table", self._create_if_missing,
                      recover=self.db.rollback)
    elif not self.db.execute("PRAGMA table_info(frames)").fetchall():
      self.db.close()
      raise ValueError(f"{os.path.abspath(path)} holds no frames: not a frame store")

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
    if not db.execute("PRAGMA table_info(panes)").fetchall():
      db.execute("CREATE TABLE IF NOT EXISTS panes (start INTEGER PRIMARY KEY, edges "
                 "INTEGER NOT NULL, links TEXT NOT NULL)")
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

  def write_panes(self, panes):
    rows = [(start, edges, orjson.dumps(links).decode()) for start, edges, links in panes]

    def insert(timeout_s):
      with self._waiting(timeout_s) as db:
        db.executemany("INSERT OR REPLACE INTO panes (start, edges, links) VALUES (?, ?, ?)",
                       rows)
    self.budget.run(f"writing {len(rows)} pane summaries", insert,
                    unwritten=f"{len(rows)} of {len(rows)} pane summaries")
    return len(rows)

  def panes(self, start_ms, end_ms):
    if not self.db.execute("PRAGMA table_info(panes)").fetchall():
      return []            # a store made before panes were kept
    return [(start, edges, [tuple(link) for link in orjson.loads(links)])
            for start, edges, links in self.db.execute(
                "SELECT start, edges, links FROM panes WHERE start >= ? AND start < ? "
                "ORDER BY start", (start_ms, end_ms))]

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

  def span(self, start_ms=None, end_ms=None):
    low = -(1 << 63) if start_ms is None else start_ms
    high = (1 << 63) - 1 if end_ms is None else end_ms - 1
    return tuple(self.db.execute(
        "SELECT COUNT(*), MIN(window_start), MAX(window_start) FROM frames "
        "WHERE window_start BETWEEN ? AND ?", (low, high)).fetchone())

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
