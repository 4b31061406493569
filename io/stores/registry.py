"""The frame stores by URI scheme. Adding a store is one module in this folder (a
FrameStore subclass, io/stores/base.py) and one line in SCHEMES."""
from pulse.io.stores.jsonl_store import JsonLinesFrameStore
from pulse.io.stores.rethinkdb_store import RethinkDBFrameStore
from pulse.io.stores.sqlite_store import SQLiteFrameStore
from pulse.io.uris import redact

__all__ = ["SCHEMES", "store_class", "check_uri", "open_store"]

SCHEMES = {store.SCHEME: store for store in (
    SQLiteFrameStore,
    JsonLinesFrameStore,
    RethinkDBFrameStore,
)}


def store_class(uri):
  """The FrameStore class of uri; ValueError if it names no store we have or is
  malformed. Connects to nothing."""
  scheme, sep, rest = uri.partition("://")
  store = SCHEMES.get(scheme) if sep else None
  if store is None:
    raise ValueError(f"unknown sink {redact(uri)!r}: use " +
                     ", ".join(s.FORMAT for s in SCHEMES.values()))
  if not rest:
    raise ValueError(f"{scheme}:// needs a place, e.g. sqlite:///tmp/frames.db, "
                     "jsonl://gs://bucket/frames.jsonl, rethinkdb://127.0.0.1:28015/pulse/frames")
  store.check_uri(uri)
  return store


def check_uri(uri):
  """ValueError if uri names no store we have, or names one wrongly."""
  store_class(uri)


def open_store(uri, create=True):
  """The FrameStore at uri, opened; with create=False, ValueError if there is none."""
  return store_class(uri).open(uri, create=create)
