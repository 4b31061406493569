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
from pulse.io.stores.base import SUMMARY_FIELDS, FrameStore, frame_summary
from pulse.io.stores.retry import RETRY_DEFAULTS, RETRY_OPTIONS, RetryBudget
from pulse.io.uris import redact, uri_options

__all__ = ["SQLiteFrameStore", "FRAMES_SQL", "SUMMARIES_SQL"]

# The frames table; a column missing from a store written before it is added when a writer
# opens it. The summary columns (base.frame_summary) are filled in at write time.
COLUMNS = {"window_start": "INTEGER NOT NULL", "window_end": "INTEGER NOT NULL",
           "frame": "TEXT NOT NULL",
           "stored_at": "INTEGER NOT NULL DEFAULT 0",   # wall-clock ms of the last write
           "edges": "INTEGER", "vertices": "INTEGER", "components": "INTEGER",
           "largest": "INTEGER", "clustered": "INTEGER"}
SUMMARISED = SUMMARY_FIELDS[3:]
# A time range is found in frames_summaries, in store order, and its summaries read from
# it alone (a covering index: the summary columns added to an old store lie past its
# frame's text, whose overflow pages a row read walks); it replaces frames_by_start, which
# stores written before keep. subscribe() polls by stored_at.
INDEXES = {"frames_summaries": ", ".join(("window_start", "window_end", "id") + SUMMARISED),
           "frames_by_stored_at": "stored_at, id"}
SCHEMA_VERSION = 1     # PRAGMA user_version: every stored frame has its summary columns
ORDER = "ORDER BY window_start, window_end, id"
FRAMES_SQL = f"SELECT frame FROM frames WHERE window_start BETWEEN ? AND ? {ORDER}"
SUMMARIES_SQL = (f"SELECT {', '.join(SUMMARY_FIELDS)} FROM frames "
                 f"WHERE window_start BETWEEN ? AND ? {ORDER}")


def _bounds(start_ms, end_ms):
  """[start_ms, end_ms) as BETWEEN's closed bounds, in SQL so an index answers a range."""
  return (-(1 << 63) if start_ms is None else start_ms,
          (1 << 63) - 1 if end_ms is None else end_ms - 1)


def _summary_row(frame):
  summary = frame_summary(frame)
  return tuple(summary[k] for k in SUMMARISED)


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
    self.current = False      # the schema of this version, summaries filled in
    if create:
      self._make_current()
    elif not self.db.execute("PRAGMA table_info(frames)").fetchall():
      self.db.close()
      raise ValueError(f"{os.path.abspath(path)} holds no frames: not a frame store")

  def _waiting(self, timeout_s):
    """The connection, waiting at most timeout_s for another writer's lock."""
    self.db.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
    return self.db

  def _make_current(self):
    """Creates what is missing and, once, fills in the summaries of frames stored before
    they were kept (a writer's job: a reader reads an old store as it is)."""
    self.budget.run("creating the frames table", self._create_if_missing,
                    recover=self.db.rollback)
    if self.db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
      self.budget.run("summarising the frames stored before summaries were kept",
                      self._backfill, recover=self.db.rollback)
    self.current = True

  def _missing(self, db):
    """(columns, indexes missing, whether the panes table is, whether the frames table is)"""
    columns = {row[1] for row in db.execute("PRAGMA table_info(frames)")}
    indexes = {row[1] for row in db.execute("PRAGMA index_list(frames)")}
    panes = db.execute("PRAGMA table_info(panes)").fetchall()
    return (set(COLUMNS) - columns, set(INDEXES) - indexes, not panes, not columns)

  def _create_if_missing(self, timeout_s):
    # Only what is missing: DDL takes the write lock even when there is nothing to do, and
    # a reader (pulse ui, export) should not wait for another writer.
    db = self._waiting(timeout_s)
    db.execute("PRAGMA journal_mode=WAL")
    if not any(self._missing(db)):
      return
    db.execute("BEGIN IMMEDIATE")     # checked again under the lock: one writer migrates
    columns, indexes, no_panes, new = self._missing(db)     # those missing
    if new:
      db.execute("CREATE TABLE frames (id TEXT PRIMARY KEY, " + ", ".join(
          f"{name} {kind}" for name, kind in COLUMNS.items()) + ")")
      db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")   # nothing to fill in
    else:                             # a store written before these columns existed
      for name in (c for c in COLUMNS if c in columns):
        db.execute(f"ALTER TABLE frames ADD COLUMN {name} {COLUMNS[name]}")
    for name in (i for i in INDEXES if i in indexes):
      db.execute(f"CREATE INDEX {name} ON frames ({INDEXES[name]})")
    if no_panes:
      db.execute("CREATE TABLE panes (start INTEGER PRIMARY KEY, edges INTEGER NOT NULL, "
                 "links TEXT NOT NULL)")
    db.commit()

  def _backfill(self, timeout_s, chunk=200):
    # A chunk per transaction, so other writers and readers wait for one chunk at most; a
    # frame written meanwhile has its summary already (and is left alone).
    db = self._waiting(timeout_s)
    ids = [i for (i,) in db.execute("SELECT id FROM frames WHERE clustered IS NULL")]
    for at in range(0, len(ids), chunk):
      part = ids[at:at + chunk]
      rows = db.execute(f"SELECT id, frame FROM frames WHERE id IN "
                        f"({','.join('?' * len(part))})", part).fetchall()
      with db:
        db.executemany(f"UPDATE frames SET {', '.join(f'{c} = ?' for c in SUMMARISED)} "
                       "WHERE id = ? AND clustered IS NULL",
                       [_summary_row(orjson.loads(text)) + (i,) for i, text in rows])
    with db:
      db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

  def write(self, frames):
    if not self.current:          # opened as a reader (create=False): bring it up to date
      self._make_current()
    rows = [(f["id"], f["window_start"], f["window_end"], orjson.dumps(f).decode())
            + _summary_row(f) for f in frames]
    self.budget.run(f"writing {len(rows)} frame(s)", lambda timeout_s: self._insert(
        rows, timeout_s), unwritten=f"{len(rows)} of {len(rows)} frame(s)")
    return len(rows)

  def _insert(self, rows, timeout_s):
    db = self._waiting(timeout_s)
    now = int(time.time() * 1000)   # per attempt: at most timeout_s before the commit
    names = ("id", "window_start", "window_end", "frame") + SUMMARISED + ("stored_at",)
    with db:                        # one transaction: all frames or none
      db.executemany(
          f"INSERT INTO frames ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
          "ON CONFLICT(id) DO UPDATE SET " + ", ".join(
              f"{n}=excluded.{n}" for n in names[1:]),
          [row + (now,) for row in rows])

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
    for (text,) in self.db.execute(FRAMES_SQL, _bounds(start_ms, end_ms)):
      yield orjson.loads(text)

  def summaries(self, start_ms=None, end_ms=None):
    columns = {row[1] for row in self.db.execute("PRAGMA table_info(frames)")}
    if "clustered" not in columns:    # an old store, opened by a reader: from the frames
      return [frame_summary(f) for f in self.frames(start_ms, end_ms)]
    out = [dict(zip(SUMMARY_FIELDS, row))
           for row in self.db.execute(SUMMARIES_SQL, _bounds(start_ms, end_ms))]
    for summary in out:               # written by an older writer since, or not filled yet
      if summary["clustered"] is None:
        summary.update(frame_summary(self.frame(summary["id"]) or summary))
    return out

  def frame(self, frame_id):
    row = self.db.execute("SELECT frame FROM frames WHERE id = ?", (frame_id,)).fetchone()
    return orjson.loads(row[0]) if row else None

  def newest_window_end(self):
    return self.db.execute("SELECT MAX(window_end) FROM frames").fetchone()[0]

  def span(self, start_ms=None, end_ms=None):
    return tuple(self.db.execute(
        "SELECT COUNT(*), MIN(window_start), MAX(window_start) FROM frames "
        "WHERE window_start BETWEEN ? AND ?", _bounds(start_ms, end_ms)).fetchone())

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
      quiet_since, version = time.monotonic(), None
      while True:
        # data_version moves when another connection commits: an idle store costs a
        # pragma a poll, not a read of every row stamped within lookback_ms.
        was, version = version, db.execute("PRAGMA data_version").fetchone()[0]
        rows = [] if version == was else db.execute(
            "SELECT id, stored_at FROM frames WHERE stored_at >= ? ORDER BY stored_at, id",
            (floor,)).fetchall()
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
