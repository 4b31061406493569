"""What `pulse ui` keeps of a store, and how it reads the rest: every window's light summary
(io/stores/base.frame_summary), a bounded cache of whole frames, and the store itself,
read a frame or a time range at a time. Nothing here holds the whole store: a week of
frames at 60 s is 10,080 of them, 10-100 KB each."""
import bisect
import collections
import threading

__all__ = ["Summaries", "FrameCache", "StoreReader", "frames_from", "CACHED_FRAMES"]

CACHED_FRAMES = 64        # whole frames kept: a page stepping about, the newest pushed
HISTORY_CHUNKS = (16, 128)   # windows per read while following a life: first, at most


def _key(summary):
  return (summary["window_start"], summary["window_end"], summary["id"])


class Summaries:
  """Every stored window's summary in store order (window_start, window_end, id), kept
  current as frames land."""
  def __init__(self, summaries=()):
    self.lock = threading.Lock()
    self.keys, self.listed, self.by_id = [], [], {}
    for summary in summaries:
      self.put(summary)

  def put(self, summary):
    with self.lock:
      old = self.by_id.get(summary["id"])
      if old is not None:
        at = bisect.bisect_left(self.keys, _key(old))
        del self.keys[at], self.listed[at]
      at = bisect.bisect_left(self.keys, _key(summary))
      self.keys.insert(at, _key(summary))
      self.listed.insert(at, summary)
      self.by_id[summary["id"]] = summary

  def __len__(self):
    return len(self.listed)

  def __contains__(self, frame_id):
    return frame_id in self.by_id

  def between(self, start_ms=None, end_ms=None):
    """The summaries whose window_start is in [start_ms, end_ms), None bounds open."""
    with self.lock:
      low = 0 if start_ms is None else bisect.bisect_left(self.keys, (start_ms,))
      high = len(self.keys) if end_ms is None else bisect.bisect_left(self.keys, (end_ms,))
      return self.listed[low:high]


class FrameCache:
  """The most recently used whole frames, at most `size` of them."""
  def __init__(self, size=CACHED_FRAMES):
    self.size, self.lock = size, threading.Lock()
    self.frames = collections.OrderedDict()

  def get(self, frame_id):
    with self.lock:
      frame = self.frames.get(frame_id)
      if frame is not None:
        self.frames.move_to_end(frame_id)
      return frame

  def put(self, frame):
    with self.lock:
      self.frames[frame["id"]] = frame
      self.frames.move_to_end(frame["id"])
      while len(self.frames) > self.size:
        self.frames.popitem(last=False)

  def __len__(self):
    return len(self.frames)


class StoreReader:
  """The server's one connection to the store, shared by its request threads one call at
  a time (a connection is not for concurrent use); counts the frames it has read."""
  def __init__(self, store=None):
    self.store, self.lock = store, threading.Lock()     # the store: set once opened
    self.read = 0

  def summaries(self):
    with self.lock:
      return self.store.summaries()

  def frame(self, frame_id):
    with self.lock:
      frame = self.store.frame(frame_id)
      self.read += frame is not None
      return frame

  def frames(self, start_ms, end_ms):
    with self.lock:
      frames = list(self.store.frames(start_ms, end_ms))
      self.read += len(frames)
      return frames


def frames_from(reader, summaries, start_ms):
  """The stored frames from start_ms on (None: from the first), in store order, read a
  chunk of windows at a time as they are asked for: a reader that stops (a cluster's life
  ended) has read its own windows and one chunk at most beyond. Chunks grow from 16 to
  128 windows (most lives are short) and meet end to start, so a frame stored meanwhile
  is not skipped."""
  starts = sorted({s["window_start"] for s in summaries.between(start_ms)})
  size = HISTORY_CHUNKS[0]
  at = 0
  while at < len(starts):
    nxt = at + size
    yield from reader.frames(starts[at], starts[nxt] if nxt < len(starts) else None)
    at, size = nxt, min(2 * size, HISTORY_CHUNKS[1])

