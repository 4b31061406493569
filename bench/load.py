"""Load: the firehose at a sustained rate for --minutes (bounded) into a local broker
(scripts/kafka.sh), with the streaming pipeline on Prism reading it; every --every
seconds a row of throughput, lag and memory. Then the firehose stops and the table goes on
until the pipeline has caught up (or --drain seconds pass).

Columns: messages produced and consumed per second over the last interval (consumed: the
pipeline group's committed offsets, which the source commits only up to what the frame
store holds, so they trail by a window); lag in messages (topic end minus committed) and
in event time (newest event produced minus the end of the newest stored window); frames
stored; resident memory of this process (the pipeline's Python SDK harness), Prism and the
broker.

  python bench/load.py [--rate 4000] [--minutes 3] [--every 10]
"""
import argparse
import os
import sys
import tempfile
import threading
import time

from confluent_kafka import Consumer, TopicPartition

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from streaming import HOUR, pipeline, script   # noqa: E402  (a sibling script)

from pulse.firehose.replay import Settings, ensure_topic, run as firehose   # noqa: E402
from pulse.io.stores import open_store   # noqa: E402
from pulse.io.kafka_codec import decode_event, heartbeat_time   # noqa: E402

MAX_MINUTES = 10
PARTITIONS = 4


def rss_mb(pid):
  """Resident memory of a process in MB, from /proc; 0 if it is gone."""
  try:
    with open(f"/proc/{pid}/status") as status:
      for line in status:
        if line.startswith("VmRSS:"):
          return int(line.split()[1]) / 1024
  except OSError:
    pass
  return 0.0


def pids_named(fragment):
  """PIDs whose command line holds `fragment`."""
  found = []
  for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
      with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        if fragment.encode() in cmdline.read():
          found.append(int(pid))
    except OSError:
      pass
  return found


class Offsets:
  """Topic end offsets and a group's committed offsets, summed over partitions."""
  def __init__(self, bootstrap, topic, group):
    self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                              "enable.auto.commit": False})
    self.partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]

  def produced(self):
    return sum(self.consumer.get_watermark_offsets(p, timeout=10)[1]
               for p in self.partitions)

  def committed(self):
    return sum(max(p.offset, 0) for p in self.consumer.committed(self.partitions,
                                                                  timeout=10))

  def newest_event_ms(self):
    """The latest event time among the last message of each partition."""
    ends = [TopicPartition(p.topic, p.partition,
                           self.consumer.get_watermark_offsets(p, timeout=10)[1] - 1)
            for p in self.partitions]
    ends = [p for p in ends if p.offset >= 0]
    self.consumer.assign(ends)
    newest, wanted = 0, len(ends)
    deadline = time.monotonic() + 10
    while wanted and time.monotonic() < deadline:
      for message in self.consumer.consume(wanted, 1.0):
        if message.error() is None:
          wanted -= 1
          heartbeat = heartbeat_time(message.headers())
          newest = max(newest, heartbeat if heartbeat is not None else
                       decode_event(message.value())["created_at"] // 1000)
    self.consumer.unassign()
    return newest

  def close(self):
    self.consumer.close()


def main(argv):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--rate", type=float, default=4000, help="events/s")
  parser.add_argument("--minutes", type=float, default=3, help=f"at most {MAX_MINUTES}")
  parser.add_argument("--every", type=float, default=10, help="seconds between rows")
  parser.add_argument("--drain", type=float, default=120,
                      help="seconds to wait for the pipeline to catch up afterwards")
  args = parser.parse_args(argv)
  minutes = min(args.minutes, MAX_MINUTES)
  prism = script("prism.sh", "install")
  script("kafka.sh", "fetch")
  work = tempfile.mkdtemp(prefix="pulse-load-")
  bootstrap = script("kafka.sh", "start", os.path.join(work, "kafka"))
  topic = "load"
  sink = f"sqlite://{work}/frames.db"
  result = None
  try:
    ensure_topic(bootstrap, topic, PARTITIONS)
    result = pipeline(bootstrap, topic, sink, prism)
    group = f"bench-{topic}"                           # the group pipeline() gives it
    time.sleep(5)                                      # let Prism start the job
    total = {}
    producer = threading.Thread(daemon=True, target=lambda: total.update(firehose(
        Settings([HOUR], bootstrap, topic, rate=args.rate, loop=True, quiet=True,
                 max_events=int(args.rate * minutes * 60)))))
    offsets, store = Offsets(bootstrap, topic, group), open_store(sink)
    others = {"prism": pids_named("prism"), "broker": pids_named(f"{work}/kafka")}
    print(f"firehose at {args.rate:,.0f} events/s for {minutes:g} min, {PARTITIONS} "
          f"partitions, Prism, windows 600 s every 60 s\n")
    print("| t (s) | produced/s | consumed/s | lag (messages) | lag (event time, s) | "
          "frames | RSS pipeline / Prism / broker (MB) |")
    print("|---|---|---|---|---|---|---|")
    started = time.monotonic()
    producer.start()
    last = (started, 0, 0)
    deadline = started + minutes * 60 + args.drain
    while time.monotonic() < deadline:
      time.sleep(args.every)
      now, produced, committed = time.monotonic(), offsets.produced(), offsets.committed()
      newest_end = store.newest_window_end() or 0
      frames = len(store.stored_at())
      newest_event = offsets.newest_event_ms()
      time_lag = f"{(newest_event - newest_end) / 1000:,.0f}" if newest_end else "-"
      memory = " / ".join(f"{sum(rss_mb(p) for p in pids):,.0f}" for pids in
                          ([os.getpid()], others["prism"], others["broker"]))
      print(f"| {now - started:,.0f} | {(produced - last[1]) / (now - last[0]):,.0f} | "
            f"{(committed - last[2]) / (now - last[0]):,.0f} | {produced - committed:,} | "
            f"{time_lag} | {frames:,} | {memory} |", flush=True)
      last = (now, produced, committed)
      if not producer.is_alive() and produced - committed < args.rate * 60:
        break                    # caught up to within about a window of event time
    producer.join(30)
    print(f"\nfirehose: {total.get('delivered', 0):,} delivered, "
          f"{total.get('failed', 0):,} failed, {total.get('events_per_second', 0):,.0f} "
          f"events/s sustained")
    offsets.close()
    store.close()
  finally:
    if result is not None:
      result.cancel()
    script("kafka.sh", "stop", os.path.join(work, "kafka"))


if __name__ == "__main__":
  main(sys.argv[1:])
