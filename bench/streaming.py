"""Streaming measurements on this machine, with a real Kafka broker (scripts/kafka.sh) and
Prism (scripts/prism.sh):

1. the firehose's events/s into the local broker, flat out, 1 and 2 producers (median of
   3 runs each, 100,000 events of the looped 2015 hour);
2. the streaming pipeline's events/s on Prism catching up on a topic holding 100,000
   events (--kafka_stop end, so the job ends when it has read them);
3. latency while the firehose replays the 2015 hour at --rate events/s into a running
   pipeline: per event, from its production (the Kafka message timestamp) to the storing
   of the first frame that holds it; per frame, from the production of the first event
   that lets the watermark pass the window's end to the frame being stored.

  python bench/streaming.py [--events 100000] [--rate 2000]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import apache_beam as beam
from confluent_kafka import Consumer, TopicPartition

from pulse.firehose.replay import Settings, ensure_topic, run as firehose
from pulse.io.stores import open_store
from pulse.io.kafka_codec import decode_event, heartbeat_time
from pulse.pipeline import graph
from pulse.pipeline.run import pipeline_options

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOUR = os.path.join(ROOT, "data", "gharchive-2015-01-01-12.json.gz")
MAX_OUT_OF_ORDER_MS = 60_000


def script(name, *args):
  """The last line the script prints on stdout (a path or an address), or ''."""
  out = subprocess.run(["bash", os.path.join(ROOT, "scripts", name), *args], check=True,
                       stdout=subprocess.PIPE, text=True).stdout.strip()
  return out.splitlines()[-1] if out else ""


def pipeline(bootstrap, topic, sink, prism, *flags):
  options = pipeline_options([
      "--runner=PrismRunner", f"--prism_location={prism}", "--streaming",
      f"--input=kafka://{bootstrap}/{topic}", f"--sink={sink}", "--kafka_start=earliest",
      f"--kafka_group=bench-{topic}", "--prism_log_level=warn", *flags])
  p = beam.Pipeline(options=options)
  graph.build(p, options)
  return p.run()


def percentile(values, q):
  values = sorted(values)
  return values[min(len(values) - 1, int(q * len(values)))]


def produced_times(bootstrap, topic):
  """[(event time ms, produced ms)] of every event in the topic."""
  consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{topic}",
                       "enable.auto.commit": False})
  partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
  ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p))[1] for p in partitions}
  consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
  seen, out = {p: 0 for p in partitions}, []
  while any(seen[p] < ends[p] for p in partitions):
    for m in consumer.consume(1000, 1.0):
      if m.error() is None:
        seen[m.partition()] = m.offset() + 1
        if heartbeat_time(m.headers()) is None:
          out.append((decode_event(m.value())["created_at"] // 1000, m.timestamp()[1]))
  consumer.close()
  return out


def main(argv):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--events", type=int, default=100_000)
  parser.add_argument("--rate", type=float, default=2000)
  args = parser.parse_args(argv)
  prism = script("prism.sh", "install")
  script("kafka.sh", "fetch")
  work = tempfile.mkdtemp(prefix="pulse-bench-")
  bootstrap = script("kafka.sh", "start", os.path.join(work, "kafka"))
  try:
    print("## firehose into the local broker, flat out")
    for producers in (1, 2):
      rates = []
      for run_number in range(3):
        topic = f"fh-{producers}-{run_number}"
        total = firehose(Settings([HOUR], bootstrap, topic, rate=0, producers=producers,
                                  loop=True, max_events=args.events, quiet=True))
        assert total["failed"] == 0, total["errors"]
        rates.append(total["events_per_second"])
      print(f"producers={producers}: median {statistics.median(rates):,.0f} events/s "
            f"(runs: {', '.join(f'{r:,.0f}' for r in rates)})")

    print("## the streaming pipeline on Prism, catching up on a full topic")
    topic = "catch-up"
    firehose(Settings([HOUR], bootstrap, topic, rate=0, loop=True, max_events=args.events,
                      quiet=True))
    started = time.monotonic()
    result = pipeline(bootstrap, topic, f"sqlite://{work}/catchup.db", prism,
                      "--kafka_stop=end")
    result.wait_until_finish()
    seconds = time.monotonic() - started
    print(f"{args.events:,} events in {seconds:.1f} s (job start included): "
          f"{args.events / seconds:,.0f} events/s")

    print(f"## latency, the 2015 hour replayed at {args.rate:,.0f} events/s")
    topic = "live"
    ensure_topic(bootstrap, topic, 4)
    sink = f"sqlite://{work}/live.db"
    result = pipeline(bootstrap, topic, sink, prism)
    time.sleep(5)
    firehose(Settings([HOUR], bootstrap, topic, rate=args.rate, quiet=True))
    store = open_store(sink)
    deadline = time.monotonic() + 120
    while len(store.stored_at()) < 69 and time.monotonic() < deadline:
      time.sleep(0.5)
    stored = store.stored_at()
    frames = {f["id"]: f for f in store.frames()}
    store.close()
    result.cancel()
    events = produced_times(bootstrap, topic)
    ends = sorted((f["window_end"], stored[i]) for i, f in frames.items())
    per_event = []
    for event_ms, produced_ms in events:
      first_end = event_ms - event_ms % 60_000 + 60_000
      stored_ms = next(s for end, s in ends if end >= first_end)
      per_event.append(stored_ms - produced_ms)
    per_frame = []
    for end, stored_ms in ends:
      closers = [p for t, p in events if t >= end + MAX_OUT_OF_ORDER_MS]
      if closers:
        per_frame.append(stored_ms - min(closers))
    print(f"per event, production -> first frame stored: median "
          f"{statistics.median(per_event):,.0f} ms, p99 {percentile(per_event, .99):,.0f} ms "
          f"({len(per_event):,} events)")
    print(f"per frame, closing event produced -> frame stored: median "
          f"{statistics.median(per_frame):,.0f} ms, p99 {percentile(per_frame, .99):,.0f} ms "
          f"({len(per_frame)} frames)")
  finally:
    script("kafka.sh", "stop", os.path.join(work, "kafka"))


if __name__ == "__main__":
  main(sys.argv[1:])
