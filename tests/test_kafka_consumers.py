"""The Kafka readers' consumer pool (io/kafka_consumers.py): one consumer per partition
and run in a process, shared by every reader of the run, closed by the last to go. (The
readers over a real broker: test_kafka_pipeline.py, test_streaming.py, test_faults_kafka.py.)"""
from pulse.io.kafka_codec import BrokerWatch
from pulse.io.kafka_consumers import PartitionConsumers

# No broker is contacted: a consumer connects only once it is used.
CONFIG = {"bootstrap.servers": "127.0.0.1:9", "group.id": "pool-test"}


def _acquire(run_id):
  return PartitionConsumers.acquire(run_id, CONFIG, BrokerWatch(lambda text: None))


def test_readers_of_a_run_share_one_consumer_per_partition_and_runs_do_not():
  first, second, other = _acquire("run-a"), _acquire("run-a"), _acquire("run-b")
  try:
    assert first is second and first is not other
    assert first.get(0) is second.get(0)
    assert first.get(0) is not first.get(1)
    assert other.get(0).consumer is not first.get(0).consumer
  finally:
    for pool in (first, second, other):
      pool.release()


def test_the_last_reader_to_release_closes_the_consumers_and_none_are_made_after():
  first, second = _acquire("run-c"), _acquire("run-c")
  pooled = first.get(3)
  first.release()
  assert pooled.consumer is not None            # the second reader still reads
  second.release()
  assert pooled.consumer is None                # closed with the pool
  assert second.get(4).consumer is None         # a late finalizer gets nothing to use
  again = _acquire("run-c")                     # the same run id later: a new pool
  assert again is not first and again.get(3).consumer is not None
  again.release()
