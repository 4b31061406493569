"""What every frame store is: the protocol the pipeline, the commands and the page use.

A store is named by a URI whose scheme picks its class (io/stores/registry.py). Frames are
keyed by their id, so writing a frame again replaces it (idempotent reruns and retried
bundles)."""

__all__ = ["FrameStore", "FrameStoreError", "in_range", "frame_summary", "SUMMARY_FIELDS"]

# A window's light figures: what a timeline of many windows needs without the frames.
SUMMARY_FIELDS = ("id", "window_start", "window_end", "edges", "vertices", "components",
                  "largest", "clustered")


class FrameStoreError(RuntimeError):
  """A store operation that failed for good (retry budget spent, or refused)."""


class FrameStore:
  """The protocol. A subclass sets SCHEME and FORMAT and implements the methods below;
  subscribe() is optional (can_subscribe says whether a store has it)."""
  SCHEME = None           # the URI scheme, e.g. "sqlite"
  FORMAT = None           # how a URI of this store is written, for errors and --help
  can_subscribe = False
  can_keep_panes = False  # keeps pane summaries, so runs over adjacent times join up

  @classmethod
  def check_uri(cls, uri):
    """ValueError if uri cannot name a store of this kind. Connects to nothing: the
    machine that builds a pipeline may not reach the store its workers do."""

  @classmethod
  def open(cls, uri, create=True):
    """The store at uri, connected; created where missing, or with create=False a
    ValueError saying that no store is there (a reader's typo is not an empty store)."""
    raise NotImplementedError

  @classmethod
  def local_path(cls, uri):
    """The absolute path of the local file the store at uri is, or None."""
    return None

  @classmethod
  def check_writable(cls, uri):
    """ValueError, in one line, if a run could not write to uri where this can be told
    from here (before any work); by default nothing can."""

  @classmethod
  def beam_write(cls, uri, streaming):
    """A PTransform writing frames to uri when this store needs its own way (a file
    written once at the end, say); None: a bundle at a time with write()."""
    return None

  def write(self, frames):
    """Stores the frames (replacing those with the same id); returns how many."""
    raise NotImplementedError

  def frames(self, start_ms=None, end_ms=None):
    """The stored frames whose window_start is in [start_ms, end_ms) (None: unbounded),
    ordered by window_start, then window_end, then id."""
    raise NotImplementedError

  def summaries(self, start_ms=None, end_ms=None):
    """frame_summary() of each stored frame whose window_start is in [start_ms, end_ms),
    in frames() order. This default reads the frames; a store overrides it to answer
    from its index without reading whole frames."""
    return [frame_summary(f) for f in self.frames(start_ms, end_ms)]

  def frame(self, frame_id):
    """The stored frame with this id, or None. This default reads the frames of the
    window the id names (`start-end`), or all of them for an id of another form."""
    start, _, end = str(frame_id).partition("-")
    window = (int(start), int(start) + 1) if start.isdigit() and end.isdigit() else ()
    return next((f for f in self.frames(*window) if f["id"] == frame_id), None)

  def newest_window_end(self):
    """The latest window_end stored, or None for an empty store."""
    raise NotImplementedError

  def span(self, start_ms=None, end_ms=None):
    """(count, first window_start, last window_start) of the frames whose window_start
    is in [start_ms, end_ms); (0, None, None) when there are none."""
    starts = [f["window_start"] for f in self.frames(start_ms, end_ms)]
    return (len(starts), min(starts), max(starts)) if starts else (0, None, None)

  def subscribe(self, since=None, idle_s=None):
    """Frames as they land (new or rewritten): those written after this call, or with
    `since` (wall-clock ms) first the stored frames last written after it. With idle_s
    the generator ends after that long without a frame."""
    raise NotImplementedError(f"{type(self).__name__} cannot follow new frames")

  def write_panes(self, panes):
    """Keeps pane summaries [(pane start ms, edges, links)], replacing those of the same
    panes (pipeline/stitch.py: the panes a window across the end of a run's data needs)."""
    raise NotImplementedError(f"{type(self).__name__} keeps no pane summaries")

  def panes(self, start_ms, end_ms):
    """[(pane start, edges, links)] of the kept panes starting in [start_ms, end_ms)."""
    raise NotImplementedError(f"{type(self).__name__} keeps no pane summaries")

  def close(self):
    """Releases the connection."""

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


def _count(value):
  """A count from stored data: ints as they are, anything else 0 (a frame is data)."""
  if isinstance(value, str) and value.isdigit():
    return int(value)
  return value if isinstance(value, int) and not isinstance(value, bool) else 0


def frame_summary(frame):
  """The frame's SUMMARY_FIELDS: its id, window and counts, `largest` (the largest
  component's size, from size_histogram) and `clustered` (members of its listed
  clusters)."""
  histogram = frame.get("size_histogram")
  clusters = frame.get("clusters")
  out = {k: frame.get(k) for k in SUMMARY_FIELDS[:6]}
  out["largest"] = max(map(_count, histogram), default=0) if isinstance(
      histogram, dict) else 0
  out["clustered"] = sum(_count(c.get("size")) for c in clusters if isinstance(c, dict)) \
      if isinstance(clusters, list) else 0
  return out


def in_range(window_start, start_ms, end_ms):
  """Whether a window_start lies in [start_ms, end_ms), None bounds open."""
  return ((start_ms is None or window_start >= start_ms) and
          (end_ms is None or window_start < end_ms))
