"""The Kafka consumers of a worker process: one per partition, shared by every reader of
the run in the process and kept assigned between bundles, so that librdkafka's prefetch
carries on while the runner schedules the next bundle. (A consumer per reader, assigned
anew whenever a bundle of another partition came to it, threw its prefetch away: each
bundle then waited for a fresh fetch, 200-500 ms measured on Prism, which sends a
partition's next bundle to any of its bundle processors.)"""
import threading

__all__ = ["PartitionConsumers"]

# Prefetch per partition: a few seconds of a fast catch-up, not librdkafka's 64 MB.
QUEUED_KBYTES = 16 * 1024


class _Pooled:
  def __init__(self, consumer):
    self.consumer = consumer       # None once closed
    self.lock = threading.Lock()   # one user at a time: a read, a commit, a close
    self.next_offset = None        # where the consumer is positioned (None: unassigned)


class PartitionConsumers:
  """Per process and run: the consumer of each partition, made on first use, closed when
  the last reader using the pool has torn down. A reader holds one with `use`."""
  _pools = {}
  _lock = threading.Lock()

  @classmethod
  def acquire(cls, run_id, config, watch):
    """The pool of run_id in this process; release() it when done (DoFn.teardown).
    config: the consumers' settings; watch: the BrokerWatch (io/kafka_codec.py) they
    report to, kept by the pool as `watch`."""
    with cls._lock:
      pool = cls._pools.get(run_id)
      if pool is None:
        pool = cls._pools[run_id] = cls(run_id, config, watch)
      pool.users += 1
      return pool

  def __init__(self, run_id, config, watch):
    self.run_id, self.users, self.watch = run_id, 0, watch
    self.config = dict(config, **watch.config(),
                       **{"queued.max.messages.kbytes": QUEUED_KBYTES})
    self.consumers, self.closed = {}, False

  def release(self):
    with self._lock:
      self.users -= 1
      if self.users:
        return
      del self._pools[self.run_id]
      self.closed = True
    for pooled in self.consumers.values():
      with pooled.lock:
        pooled.consumer.close()
        pooled.consumer = None

  def get(self, partition):
    """The partition's _Pooled consumer: use it under its lock; consumer is None once the
    pool is closed (a cancelled job tearing down)."""
    with self._lock:
      pooled = self.consumers.get(partition)
      if pooled is None:
        from confluent_kafka import Consumer
        pooled = _Pooled(None if self.closed else Consumer(self.config))
        self.consumers[partition] = pooled
      return pooled
