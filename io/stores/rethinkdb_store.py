"""Frames in a RethinkDB table:
  rethinkdb://[USER[:PASSWORD]@]HOST[:PORT]/DB/TABLE[?OPTION=VALUE&...]
with options retry_s (default 30), retries (10), timeout_s (5, for connecting): the retry
budget every retrying store shares (io/stores/retry.py); and batch (200 frames a query).
USER defaults to admin, PORT to 28015; the password may come from env RETHINKDB_PASSWORD
instead of the URI (better: Beam keeps pipeline options, --sink included, in its pipeline
description). The password never appears in logs, errors or repr: URIs are shown redacted.

The database, the table (primary key id) and indexes on window_start (order) and window_end
(latest) are created when missing. Each document is the frame plus `stored_at` (wall-clock
ms of its last write), stripped again on reading. A write whose connection fails (server
unreachable or restarting) reconnects and is retried whole, with exponential backoff, within
retry_s seconds and `retries` retries; then RethinkDBStoreError says which server, what
failed and how many frames were not written."""
import os
import re
import time
import urllib.parse

from rethinkdb import RethinkDB
from rethinkdb.errors import (ReqlAuthError, ReqlAvailabilityError, ReqlDriverError,
                              ReqlNonExistenceError, ReqlOpFailedError, ReqlTimeoutError)

from pulse.io.stores.base import SUMMARY_FIELDS, FrameStore, FrameStoreError, frame_summary
from pulse.io.stores.retry import RETRY_DEFAULTS, RETRY_OPTIONS, RetryBudget
from pulse.io.uris import redact, uri_options

__all__ = ["RethinkDBFrameStore", "RethinkDBStoreError", "PASSWORD_ENV", "parse_uri"]

PASSWORD_ENV = "RETHINKDB_PASSWORD"
DEFAULT_PORT = 28015
STAMP = "stored_at"
INDEXES = ("window_start", "window_end")
MAX_KEY = 127          # the longest primary key RethinkDB takes (bytes, to be safe)
OPTIONS = dict(RETRY_OPTIONS, batch=int)
DEFAULTS = dict(RETRY_DEFAULTS, batch=200)
_NAME = re.compile(r"^[A-Za-z0-9_]+$")     # RethinkDB's rule for db and table names
FORMAT = "rethinkdb://[USER[:PASSWORD]@]HOST:PORT/DB/TABLE"
# Worth retrying: connection trouble (including a server restart mid-query), and a replica
# that is briefly unavailable. Auth failures are never retried.
RETRYABLE = (ReqlDriverError, ReqlAvailabilityError, OSError)


class RethinkDBStoreError(FrameStoreError):
  """A store operation that failed for good (retry budget spent, or refused)."""


class _Secret:
  """Holds the password without ever showing it."""
  __slots__ = ("value",)

  def __init__(self, value):
    self.value = value

  def __repr__(self):
    return "<secret>"


def parse_uri(uri):
  """-> dict(host, port, user, password (or None), db, table, **OPTIONS)."""
  shown = redact(uri)
  scheme, sep, rest = uri.partition("://")
  if scheme != "rethinkdb" or not sep:
    raise ValueError(f"{shown!r} is not a rethinkdb:// URI: use {FORMAT}")
  userinfo, at, hostpath = rest.rpartition("@")
  user, colon, password = userinfo.partition(":")
  address, _, path = hostpath.partition("/")
  path, _, query = path.partition("?")
  db, _, table = path.partition("/")
  host, colon_port, port = address.rpartition(":")
  if not colon_port or "]" in port:           # no port given (or the end of an IPv6 host)
    host, port = address, str(DEFAULT_PORT)
  if not host or not port.isdigit() or not _NAME.match(db) or not _NAME.match(table):
    raise ValueError(f"bad RethinkDB sink {shown!r}: use {FORMAT} (DB and TABLE made of "
                     f"A-Z, a-z, 0-9 and _)")
  return dict(uri_options(query, OPTIONS, DEFAULTS, shown), host=host.strip("[]"),
              port=int(port), user=urllib.parse.unquote(user) if at and user else "admin",
              password=urllib.parse.unquote(password) if at and colon else None,
              db=db, table=table)


def _strip(doc):
  doc.pop(STAMP, None)
  return doc


class RethinkDBFrameStore(FrameStore):
  """Frames in one RethinkDB table (see the module docstring). Keyword arguments override
  the URI's options."""
  SCHEME = "rethinkdb"
  FORMAT = FORMAT
  can_subscribe = True

  @classmethod
  def check_uri(cls, uri):
    parse_uri(uri)

  @classmethod
  def open(cls, uri, create=True):
    return cls(uri, create=create)

  def __init__(self, uri, create=True, **options):
    spec = parse_uri(uri)
    unknown = set(options) - set(OPTIONS)
    if unknown:
      raise TypeError(f"unknown option(s) {sorted(unknown)}: known are "
                      f"{', '.join(OPTIONS)}")
    spec.update(options)
    self.uri = redact(uri)
    self.host, self.port, self.user = spec["host"], spec["port"], spec["user"]
    self.db, self.table = spec["db"], spec["table"]
    self.batch_size, self.timeout_s = spec["batch"], spec["timeout_s"]
    password = spec["password"]
    self._password = _Secret(os.environ.get(PASSWORD_ENV, "") if password is None
                             else password)
    self.budget = RetryBudget(f"RethinkDB at {self.address}", spec["retry_s"],
                              spec["retries"], self.timeout_s,
                              lambda e: isinstance(e, RETRYABLE), self._scrub,
                              RethinkDBStoreError)
    self.r = RethinkDB()
    self._table = self.r.db(self.db).table(self.table)
    self.conn = None
    self.create = create
    self._run("creating the database, table and indexes" if create else
              "finding the table", self._create_if_missing)

  def __repr__(self):
    return f"RethinkDBFrameStore({self.uri})"

  @property
  def address(self):
    return f"{self.host}:{self.port}"

  def _scrub(self, text):
    secret = self._password.value
    return text.replace(secret, "***") if secret else text

  def _connect(self, timeout_s=None):
    try:
      return self.r.connect(host=self.host, port=self.port, user=self.user,
                            password=self._password.value,
                            timeout=timeout_s or self.timeout_s)
    except ReqlAuthError as e:
      raise RethinkDBStoreError(
          f"RethinkDB at {self.address} refused user {self.user!r}: "
          f"{self._scrub(str(e))} (the password comes from the sink URI or env "
          f"{PASSWORD_ENV})") from None

  def _drop_connection(self):
    conn, self.conn = self.conn, None
    if conn is not None:
      try:
        conn.close(noreply_wait=False)
      except Exception:        # already broken: nothing left to release
        pass

  def _run(self, what, query, unwritten=None):
    """query(conn) within the retry budget, reconnecting after a connection error."""
    def attempt(timeout_s):
      if self.conn is None:
        self.conn = self._connect(timeout_s)
      return query(self.conn)
    return self.budget.run(what, attempt, unwritten, recover=self._drop_connection)

  def _create_if_missing(self, conn):
    r = self.r

    def create(query):     # another worker may create it at the same moment
      try:
        query.run(conn)
      except ReqlOpFailedError as e:
        if "already exists" not in str(e):
          raise

    missing = (self.db not in r.db_list().run(conn) or
               self.table not in r.db(self.db).table_list().run(conn))
    if missing and not self.create:
      raise ValueError(f"no frame store at {self.uri}: RethinkDB at {self.address} has no "
                       f"table {self.db}.{self.table}")
    if self.db not in r.db_list().run(conn):
      create(r.db_create(self.db))
    if self.table not in r.db(self.db).table_list().run(conn):
      create(r.db(self.db).table_create(self.table, primary_key="id"))
    existing = self._table.index_list().run(conn)
    for index in INDEXES:
      if index not in existing:
        create(self._table.index_create(index))
    self._table.index_wait(*INDEXES).run(conn)

  def write(self, frames):
    frames = list(frames)
    if any(STAMP in f for f in frames):
      raise ValueError(f"a frame has a {STAMP!r} field, which this store keeps for itself")
    for start in range(0, len(frames), self.batch_size):
      batch = frames[start:start + self.batch_size]
      self._run(f"writing {len(batch)} frame(s) to {self.db}.{self.table}",
                lambda conn, batch=batch: self._insert(conn, batch),
                unwritten=f"{len(frames) - start} of {len(frames)} frame(s)")
    return len(frames)

  def _insert(self, conn, batch):
    now = int(time.time() * 1000)
    result = self._table.insert([dict(f, **{STAMP: now}) for f in batch],
                                conflict="replace").run(conn)
    if result["errors"]:
      raise RethinkDBStoreError(
          f"RethinkDB at {self.address} rejected {result['errors']} of {len(batch)} "
          f"frame(s): {self._scrub(str(result.get('first_error')))[:500]}")

  def frames(self, start_ms=None, end_ms=None):
    def read(conn):
      return list(self._range(start_ms, end_ms).order_by(index="window_start").run(conn))
    docs = self._run("reading frames", read)
    # The index orders ties by id alone; SQLite's order puts window_end first.
    docs.sort(key=lambda d: (d["window_start"], d["window_end"], d["id"]))
    return iter([_strip(d) for d in docs])

  def summaries(self, start_ms=None, end_ms=None):
    # The server plucks what a summary needs (the histogram, each cluster's size) from the
    # documents of the range, found by the window_start index: no whole frame is sent.
    def read(conn):
      return list(self._range(start_ms, end_ms).order_by(index="window_start").pluck(
          *SUMMARY_FIELDS[:6], "size_histogram", {"clusters": ["size"]}).run(conn))
    docs = self._run("reading summaries", read)
    docs.sort(key=lambda d: (d["window_start"], d["window_end"], d["id"]))
    return [frame_summary(d) for d in docs]

  def frame(self, frame_id):
    if not isinstance(frame_id, str) or len(frame_id.encode()) > MAX_KEY:
      return None         # could name no document: the server would refuse the key
    doc = self._run("reading a frame", lambda conn: self._table.get(frame_id).run(conn))
    return None if doc is None else _strip(doc)

  def _range(self, start_ms, end_ms):
    """The table, or its documents whose window_start is in [start_ms, end_ms), from the
    window_start index (between is half-open)."""
    if start_ms is None and end_ms is None:
      return self._table
    return self._table.between(self.r.minval if start_ms is None else start_ms,
                               self.r.maxval if end_ms is None else end_ms,
                               index="window_start")

  def newest_window_end(self):
    def latest(conn):
      try:
        return self._table.max(index="window_end").run(conn)["window_end"]
      except ReqlNonExistenceError:      # an empty table
        return None
    return self._run("reading the latest window_end", latest)

  def stored_at(self):
    """{frame id: wall-clock ms of its last write}."""
    return {d["id"]: d[STAMP] for d in self._run("reading stored_at", lambda conn: list(
        self._table.pluck("id", STAMP).run(conn)))}

  def subscribe(self, since=None, idle_s=None):
    """As FrameStore.subscribe, from a changefeed opened by this call on its own
    connection (the stored frames after `since` come in no set order); closing the
    generator closes the feed."""
    conn = None
    try:
      conn = self._connect()
      feed = self._table.changes(include_initial=since is not None).run(conn)
    except ReqlDriverError as e:
      if conn is not None:
        conn.close(noreply_wait=False)
      raise RethinkDBStoreError(
          f"RethinkDB at {self.address}: opening a changefeed on {self.db}.{self.table} "
          f"failed: {self._scrub(str(e))}") from None
    return self._follow(conn, feed, since, idle_s)

  def _follow(self, conn, feed, since, idle_s):
    try:
      while True:
        try:
          change = feed.next(wait=idle_s if idle_s is not None else True)
        except ReqlTimeoutError:
          return
        frame = change.get("new_val")
        if frame is not None and (since is None or frame.get(STAMP, 0) > since):
          yield _strip(frame)
    except ReqlDriverError as e:
      raise RethinkDBStoreError(
          f"RethinkDB at {self.address}: the changefeed on {self.db}.{self.table} broke: "
          f"{self._scrub(str(e))}") from None
    finally:
      try:
        conn.close(noreply_wait=False)
      except ReqlDriverError:
        pass

  def close(self):
    self._drop_connection()
