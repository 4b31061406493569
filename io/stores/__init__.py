"""Frame stores: one protocol (base.FrameStore: write, frames by time range, newest stored
window, close, optional subscribe), one registry of URI schemes (registry.py), the
stores (sqlite_store.py, jsonl_store.py, rethinkdb_store.py) and Beam's write (write.py).
"""
from pulse.io.stores.base import FrameStore, FrameStoreError
from pulse.io.stores.registry import SCHEMES, check_uri, open_store
from pulse.io.stores.write import StoredFrame, StoredUntil, WriteFrames

__all__ = ["FrameStore", "FrameStoreError", "SCHEMES", "check_uri", "open_store",
           "StoredFrame", "StoredUntil", "WriteFrames"]
