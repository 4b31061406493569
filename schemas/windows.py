"""Window geometry: the one description of the sliding event-time windows, built once per
pipeline (pipeline/graph.py) and handed to everything that must agree on it: the windowing
(transforms/windows.py) and the Kafka reader's lateness and resume rules
(io/kafka_reader.py). Times are milliseconds since the epoch unless a name says _s."""

__all__ = ["WindowGeometry"]


class WindowGeometry:
  """Sliding windows of size_s seconds starting every period_s seconds, aligned to the
  epoch; a window takes late events until allowed_lateness_s after its end. A window is
  made of size/period panes: the period-long slices it shares with its neighbours.
  ValueError, with the reason, for a geometry no window can have."""
  def __init__(self, size_s, period_s, allowed_lateness_s=0):
    for name, value in (("window size", size_s), ("window period", period_s),
                        ("allowed lateness", allowed_lateness_s)):
      if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} {value!r} is not a whole number of seconds")
    if period_s <= 0 or size_s <= 0 or size_s % period_s:
      raise ValueError(
          f"window size {size_s}s must be a positive multiple of the period {period_s}s")
    if allowed_lateness_s < 0:
      raise ValueError(f"allowed lateness {allowed_lateness_s}s is negative")
    self.size_s, self.period_s = size_s, period_s
    self.allowed_lateness_s = allowed_lateness_s
    self.size_ms, self.period_ms = size_s * 1000, period_s * 1000
    self.lateness_ms = allowed_lateness_s * 1000
    self.panes = size_s // period_s          # panes per window

  def __repr__(self):
    return (f"WindowGeometry({self.size_s}, {self.period_s}, "
            f"allowed_lateness_s={self.allowed_lateness_s})")

  def __eq__(self, other):
    return isinstance(other, WindowGeometry) and repr(self) == repr(other)

  def __hash__(self):
    return hash(repr(self))

  def pane_start(self, event_ms):
    """The start of the pane holding an event at event_ms."""
    return event_ms - event_ms % self.period_ms

  def first_window_end(self, event_ms):
    """The end of the earliest window holding an event at event_ms."""
    return self.pane_start(event_ms) + self.period_ms

  def is_late(self, event_ms, watermark_ms):
    """True if every window of the event has closed (lateness included)."""
    return self.first_window_end(event_ms) + self.lateness_ms <= watermark_ms

  def resume_time(self, stored_window_end_ms):
    """The earliest event time a window not yet (safely) stored may hold, when the store
    holds windows up to stored_window_end_ms. One window of margin: frames are written a
    bundle at a time, not strictly in order."""
    return stored_window_end_ms - self.size_ms + self.period_ms - self.size_ms

  def panes_of(self, window_end_ms):
    """The pane starts of the window ending at window_end_ms, oldest first."""
    return range(window_end_ms - self.size_ms, window_end_ms, self.period_ms)

  def block(self, block_panes):
    """(size_s, period_s, offset_s) of the sliding "block" windows that each hold the
    windows ending in block_panes consecutive panes: those panes and the panes - 1
    before them (transforms/windows.py groups pane summaries by these)."""
    return ((block_panes + self.panes - 1) * self.period_s, block_panes * self.period_s,
            -(self.panes - 1) * self.period_s)

  def windows_of(self, pane_ms):
    """The starts of the windows that hold the pane starting at pane_ms."""
    return range(pane_ms - (self.panes - 1) * self.period_ms, pane_ms + 1, self.period_ms)

  def straddling_windows(self, pane_ms, covered):
    """The starts of the windows holding the pane at pane_ms (one of `covered`, a set of
    pane starts with data) and a pane without data: the windows whose frames data of
    other runs can complete. Empty exactly when the pane is no boundary pane: when every
    pane within panes - 1 of it has data."""
    return [start for start in self.windows_of(pane_ms)
            if any(p not in covered for p in range(start, start + self.size_ms,
                                                   self.period_ms))]

  def window_ends_in(self, block_start_ms, block_end_ms):
    """The ends of the windows that lie wholly in the block [block_start, block_end)."""
    return range(block_start_ms + self.size_ms, block_end_ms + 1, self.period_ms)
