"""What every frame store is: the protocol the pipeline, the commands and the page use.

A store is named by a URI whose scheme picks its class (io/stores/registry.py). Frames are
keyed by their id, so writing a frame again replaces it (idempotent reruns and retried
bundles)."""

__all__ = ["FrameStore", "FrameStoreError", "in_range"]


class FrameStoreError(RuntimeError):
  """A store operation that failed for good (retry budget spent, or refused)."""


class FrameStore:
  """The protocol. A subclass sets SCHEME and FORMAT and implements the methods below;
  subscribe() is optional (can_subscribe says whether a store has it)."""
  SCHEME = None           # the URI scheme, e.g. "sqlite"
  FORMAT = None           # how a URI of this store is written, for errors and --help
  can_subscribe = False

  @classmethod
  def check_uri(cls, uri):
    """ValueError if uri cannot name a store of this kind. Connects to nothing: the
    machine that builds a pipeline may not reach the store its workers do."""

  @classmethod
  def open(cls, uri):
    """The store at uri, connected (created where missing)."""
    raise NotImplementedError

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

  def newest_window_end(self):
    """The latest window_end stored, or None for an empty store."""
    raise NotImplementedError

  def subscribe(self, since=None, idle_s=None):
    """Frames as they land (new or rewritten): those written after this call, or with
    `since` (wall-clock ms) first the stored frames last written after it. With idle_s
    the generator ends after that long without a frame."""
    raise NotImplementedError(f"{type(self).__name__} cannot follow new frames")

  def close(self):
    """Releases the connection."""

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


def in_range(window_start, start_ms, end_ms):
  """Whether a window_start lies in [start_ms, end_ms), None bounds open."""
  return ((start_ms is None or window_start >= start_ms) and
          (end_ms is None or window_start < end_ms))
