"""Lineage: which cluster of a window continues which cluster of the window one period
before, so a community keeps its id while it lives (docs/frames.md states the rule).

follow() is the rule, pure. FollowClusters applies it inside the graph, batch and
streaming alike: one stateful step that follows each window once the previous one is
final, re-follows the later windows when a late pane rewrites a window, and on a bounded
run re-follows the stored frames of other runs that this run's windows precede."""
from typing import Any, Dict, Tuple

import apache_beam as beam
import orjson
from apache_beam.coders import BytesCoder, PickleCoder, TupleCoder, VarIntCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (BagStateSpec, ReadModifyWriteStateSpec,
                                              TimerSpec, on_timer)
from apache_beam.utils.timestamp import Timestamp

from pulse.schemas.counters import FRAMES_RELINKED, counter
from pulse.transforms.frames import new_cluster_id

__all__ = ["follow", "lineage", "FollowClusters"]


def _all_clusters(frame):
  return frame["clusters"] + frame.get("more_clusters", [])


def follow(previous, frame):
  """`frame` with its clusters' lineage from `previous` (the frame of the window one
  period earlier, lineage done; None when that window holds no edges): ids, `from`,
  `change`, and the frame's `dissolved`. Returns a new frame; neither input changes."""
  before = _all_clusters(previous) if previous else []
  owner = {login: i for i, cluster in enumerate(before) for login in cluster["members"]}
  now = _all_clusters(frame)
  ranked_from, first_next = [], {}   # first_next: before's index -> (rank key, now's index)
  for j, cluster in enumerate(now):
    shared = {}
    for login in cluster["members"]:
      i = owner.get(login)
      if i is not None:
        shared[i] = shared.get(i, 0) + 1
    ranked_from.append(sorted(shared.items(), key=lambda item: (
        -item[1], -before[item[0]]["size"], before[item[0]]["id"])))
    for i, n in shared.items():
      key = (-n, -cluster["size"], cluster["members"][0])
      if i not in first_next or key < first_next[i][0]:
        first_next[i] = (key, j)
  followed = []
  for j, cluster in enumerate(now):
    ranked = ranked_from[j]
    continues = bool(ranked) and first_next[ranked[0][0]][1] == j
    followed.append({
        **cluster,
        "id": before[ranked[0][0]]["id"] if continues else
              new_cluster_id(frame["window_start"], cluster["members"]),
        "from": [{"id": before[i]["id"], "shared": n} for i, n in ranked],
        "change": ("merged" if len(ranked) > 1 else "split" if ranked and not continues
                   else "continued" if continues else "born"),
    })
  listed = len(frame["clusters"])
  return {**frame, "clusters": followed[:listed], "more_clusters": followed[listed:],
          "dissolved": sorted(c["id"] for i, c in enumerate(before) if i not in first_next)}


def lineage(frame):
  """What follow() decides for a frame: equal for two versions of a window exactly when
  the windows after it follow them alike. A frame stored before lineage has none."""
  return ([(c["id"], c.get("change"), [(f["id"], f["shared"]) for f in c.get("from", ())])
           for c in _all_clusters(frame)], frame.get("dissolved"))


class FollowClusters(beam.PTransform):
  """Frames -> the same frames with lineage (follow()), each once its previous window is
  final, and again whenever a late pane changes a window before it.

  Args:
    geometry: the WindowGeometry (schemas/windows.py).
    stored_frame: a picklable callable, window start ms -> the stored frame of that
      window or None (io/stores.StoredFrame): the previous window of this run's first
      window, of a window after a gap, and for a bounded run the stored windows that this
      run's windows precede. None: nothing is stored (each run stands alone).
  Input: frames in their sliding windows, timestamped at their window's end (ToFrames).
  Returns: frames with lineage, in the global window: each window's frame, and the frames
    that a late pane or this run's windows changed the lineage of.

  The rule for late data: a window rewritten by a late pane is followed again from its
  previous window as it stands, and so is each window after it in turn, as long as its
  lineage changes (a window whose lineage stays as it was changes none after it).
  """
  def __init__(self, geometry, stored_frame=None):
    super().__init__()
    self.geometry, self.stored_frame = geometry, stored_frame

  def expand(self, frames):
    return (frames
            | "Unwindowed" >> beam.WindowInto(beam.window.GlobalWindows())
            | "OneKey" >> beam.Map(lambda frame: ("", frame)).with_output_types(
                Tuple[str, Dict[str, Any]])
            | "Follow" >> beam.ParDo(_FollowFn(self.geometry, self.stored_frame,
                                               relink_stored=frames.is_bounded)))


def _wake_at(window_end, wake):
  # Timers have millisecond precision; a frame's timestamp is its window's last ms.
  wake.set(Timestamp(micros=(window_end - 1) * 1000))


class _FollowFn(beam.DoFn):
  """One key; frames wait in `pending` for the timer, which each frame sets at the latest
  window end of its bundle (the last set wins): frames arrive once their window closed,
  so it fires soon. It follows, in window order, the frames whose window ended by then,
  and is set again at the latest end of those still waiting (a batch run: once or twice).
  `recent` keeps the followed frames a late pane can still reach back to. A frame costs
  no state read (a round trip to the runner on a multi-process or remote worker), and
  frames are kept as JSON bytes: the SDK weighs its state cache object by object."""
  PENDING = BagStateSpec("pending", TupleCoder(      # (window end, edges, frame)
      [VarIntCoder(), VarIntCoder(), BytesCoder()]))
  RECENT = ReadModifyWriteStateSpec("recent", PickleCoder())   # {window start: bytes}
  WAKE = TimerSpec("wake", TimeDomain.WATERMARK)

  def __init__(self, geometry, stored_frame, relink_stored):
    self.geometry, self.stored_frame = geometry, stored_frame
    self.relink_stored = relink_stored and stored_frame is not None
    self.relinked = counter(FRAMES_RELINKED)
    self.latest_end = 0

  def start_bundle(self):
    self.latest_end = 0

  def process(self, item, pending=beam.DoFn.StateParam(PENDING),
              wake=beam.DoFn.TimerParam(WAKE)):
    frame = item[1]
    pending.add((frame["window_end"], frame["edges"], orjson.dumps(frame)))
    # The latest end in this bundle: frames in any order (a batch run's shuffle) then
    # leave the timer where it follows all of them at once.
    self.latest_end = max(self.latest_end, frame["window_end"])
    _wake_at(self.latest_end, wake)

  @on_timer(WAKE)
  def wake_up(self, pending=beam.DoFn.StateParam(PENDING),
              recent=beam.DoFn.StateParam(RECENT), wake=beam.DoFn.TimerParam(WAKE),
              fired=beam.DoFn.TimestampParam):
    size = self.geometry.size_ms
    ready, waiting = {}, []   # ready: by window start, the newest pane of each window that
    for end, edges, data in pending.read():                   # ended by `fired`
      if end - 1 > fired.micros // 1000:
        waiting.append((end, edges, data))
      elif end - size not in ready or edges > ready[end - size][0]:
        ready[end - size] = (edges, data)   # accumulating panes: the newest has most edges
    pending.clear()
    if waiting:
      for item in waiting:
        pending.add(item)
      _wake_at(max(end for end, _, _ in waiting), wake)
    to_follow = set(ready) | {end - size for end, _, _ in waiting}
    known = {start: orjson.loads(data) for start, data in (recent.read() or {}).items()}
    for start in sorted(ready):
      # What this yields is final: the windows after a late pane are followed again only
      # up to the next window with a pane to follow, which follows its own.
      yield from self._follow_in(known, orjson.loads(ready[start][1]), to_follow)
      self._forget_final(known)
    if self.relink_stored and known:
      yield from self._relink(known, max(known) + self.geometry.period_ms, None)
      self._forget_final(known)
    recent.write({start: orjson.dumps(frame) for start, frame in known.items()})

  def _forget_final(self, known):
    """Drops the followed frames that no late pane can reach back to any more."""
    keep_from = max(known) - self.geometry.lateness_ms - 2 * self.geometry.period_ms
    for start in [start for start in known if start < keep_from]:
      del known[start]

  def _previous(self, known, start):
    before = start - self.geometry.period_ms
    if before in known:
      return known[before]
    return self.stored_frame(before) if self.stored_frame else None

  def _follow_in(self, known, frame, waiting):
    """Follows one frame into `known` and yields it, then the frames after it whose
    lineage that changes (but those `waiting` to be followed in turn)."""
    start, period = frame["window_start"], self.geometry.period_ms
    if self.relink_stored and known and start - period not in known:
      newest = max(known)     # (rare: only after a gap in this run's windows)
      if start > newest + period:
        yield from self._relink(known, newest + period, start)   # stored frames in a gap
    known[start] = follow(self._previous(known, start), frame)
    yield known[start]
    later = start + period
    while later in known and later not in waiting:   # after a late pane, while it matters
      again = self._follow_again(known, known[later])
      if again is None:
        return
      yield again
      later += period

  def _follow_again(self, known, frame):
    """An already followed frame followed again from its previous window as it now
    stands, into `known`; None when its lineage stays (and so that of every window after
    it)."""
    again = follow(self._previous(known, frame["window_start"]), frame)
    if lineage(again) == lineage(frame):
      return None
    known[frame["window_start"]] = again
    self.relinked.inc()
    return again

  def _relink(self, known, start, stop):
    """Re-follows the stored frames from `start` (before `stop`, if given) while their
    lineage changes: they are other runs' windows, now after this run's."""
    while stop is None or start < stop:
      stored = self.stored_frame(start)
      again = stored and self._follow_again(known, stored)
      if again is None:
        return
      yield again
      start += self.geometry.period_ms
