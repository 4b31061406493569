"""What the Kafka reader keeps per worker process between bundles: per partition, the
offsets and event times read but not yet committed past (PartitionHistory), and the
partitions' event-time clocks from which every reader publishes its watermark (Clocks)."""
import collections
import sys
import threading

__all__ = ["PartitionHistory", "history_of", "HISTORIES_LOCK", "Clocks"]


class PartitionHistory:
  """Per partition, the (offset, event time) of records read but not yet committed past, so
  a finalizer can find the first offset a window not yet stored may need."""
  def __init__(self, start):
    self.start = start            # history is complete from this offset on
    self.records = collections.deque()
    self.position = start         # next offset to read
    self.committed = start        # what this worker last committed (or started from)
    self.newest = None            # the newest event time read
    self.commit_due = 0           # time.monotonic() from which to commit again

  def safe_offset(self, resume_ms):
    for offset, event_ms in self.records:
      if event_ms >= resume_ms:
        return offset
    return self.position

  def forget_before(self, offset):
    while self.records and self.records[0][0] < offset:
      self.records.popleft()


_HISTORIES = {}                   # (run id, partition) -> PartitionHistory, per process
HISTORIES_LOCK = threading.Lock()


def history_of(run_id, partition, start):
  """The history of a partition of one run in this process, continuing at offset start
  (a fresh one when the last one read elsewhere)."""
  key = (run_id, partition)
  with HISTORIES_LOCK:
    history = _HISTORIES.get(key)
    if history is None or history.position != start:
      history = _HISTORIES[key] = PartitionHistory(start)
    return history


class Clocks:
  """The newest event time of each partition of one run whose bundle the runner has
  committed (set from bundle finalizers), shared by the readers in this worker process.
  Only committed clocks may lift another partition's watermark: an event still in an
  unfinished bundle is not yet downstream, and a watermark published past it would make
  the runner drop it as late."""
  _runs = {}
  _lock = threading.Lock()

  def __init__(self, run_id, partitions, max_out_of_order_ms):
    with self._lock:
      self.committed = self._runs.setdefault(run_id, {})
    self.partitions = partitions
    self.max_out_of_order_ms = max_out_of_order_ms

  def commit(self, partition, newest_ms):
    with self._lock:
      self.committed[partition] = max(self.committed.get(partition, newest_ms), newest_ms)

  def watermark_ms(self, partition, own_newest_ms):
    """What a reader of `partition`, having read up to own_newest_ms, may publish: the
    oldest clock over all partitions, less the out-of-order allowance; -inf until every
    other partition has committed something."""
    with self._lock:
      others = [self.committed.get(p) for p in self.partitions if p != partition]
    if own_newest_ms is None or None in others:
      return -sys.maxsize
    oldest = min([own_newest_ms] + others)
    return oldest if oldest == sys.maxsize else oldest - self.max_out_of_order_ms
