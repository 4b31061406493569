"""Streaming measurements on this machine, with a real Kafka broker (scripts/kafka.sh) and
Prism (scripts/prism.sh):

1. firehose: its events/s into the local broker, flat out, 1 and 2 producers (median of
   3 runs each, 100,000 events of the looped 2015 hour);
2. catch-up, on one topic holding --events events of the looped 2015 hour, each run to
   the end of the topic (--kafka_stop end) and timed from its start, job start included:
   - the ceiling: a bare pipeline on Prism, the same Kafka source and nothing else but a
     count (reading, decoding, event time, watermarks and commits are the source's);
   - the streaming pipeline on Prism;
   - the same pipeline in batch on the FnApiRunner (the same events);
   each --repeats times, interleaved, with the medians;
3. latency while the firehose replays the 2015 hour in a loop at --rate events/s for
   --seconds into a running pipeline: per event, from its production (the Kafka message timestamp) to the storing
   of the first frame that holds it; per frame, from the production of the first event
   that lets the watermark pass the window's end to the frame being stored.

  python bench/streaming.py [--events 100000] [--rate 2000] [--seconds 30] [--repeats 3]
                            [--parts firehose,catch-up,latency]
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

from pulse.firehose.replay import Settings, close_replay, ensure_topic, run as firehose
from pulse.io.stores import open_store
from pulse.io.kafka_codec import decode_event, heartbeat_time
from pulse.pipeline import graph
from pulse.pipeline.options import PulseOptions
from pulse.pipeline.run import pipeline_options

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOUR = os.path.join(ROOT, "data", "gharchive-2015-01-01-12.json.gz")
MAX_OUT_OF_ORDER_MS = 60_000


def script(name, *args):
  """The last line the script prints on stdout (a path or an address), or ''."""
  out = subprocess.run(["bash", os.path.join(ROOT, "scripts", name), *args], check=True,
                       stdout=subprocess.PIPE, text=True).stdout.strip()
  return out.splitlines()[-1] if out else ""


def pipeline(bootstrap, topic, sink, prism, *flags, bare=False, group=None):
  """Runs the pipeline (or the bare one) streaming on Prism; prism None: batch on the
  FnApiRunner. Returns the PipelineResult."""
  runner = (["--runner=PrismRunner", f"--prism_location={prism}", "--streaming",
             "--prism_log_level=warn"] if prism else ["--runner=FnApiRunner"])
  options = pipeline_options([
      *runner, f"--input=kafka://{bootstrap}/{topic}", f"--sink={sink}",
      "--kafka_start=earliest", f"--kafka_group={group or 'bench-' + topic}", *flags])
  p = beam.Pipeline(options=options)
  if bare:
    o = options.view_as(PulseOptions)
    read, _ = graph.read_input(p, o, o.input_patterns(), bool(prism), graph.geometry_of(o))
    # A count with an output: Prism busy-waits through the bundles of a stage that has
    # none (its bundle's data counts as done at once), which would slow the ceiling.
    read.records | "Count" >> beam.combiners.Count.Globally()
  else:
    graph.build(p, options)
  return p.run()


def catch_up(bootstrap, topic, work, prism, events, repeats):
  """The ceiling, the streaming pipeline and the batch run on one full topic."""
  contenders = [("bare pipeline on Prism (the ceiling)", prism, True),
                ("streaming pipeline on Prism", prism, False),
                ("batch pipeline on the FnApiRunner", None, False)]
  rates = {name: [] for name, _, _ in contenders}
  for round_number in range(repeats):
    for number, (name, runner, bare) in enumerate(contenders):
      started = time.monotonic()
      pipeline(bootstrap, topic, f"sqlite://{work}/catchup-{round_number}-{number}.db",
               runner, "--kafka_stop=end", bare=bare,
               group=f"bench-{round_number}-{number}").wait_until_finish()
      rates[name].append(events / (time.monotonic() - started))
      print(f"  {name}: {rates[name][-1]:,.0f} events/s", flush=True)
  ceiling = statistics.median(rates[contenders[0][0]])
  for name, _, _ in contenders:
    median = statistics.median(rates[name])
    print(f"{name}: median {median:,.0f} events/s over {repeats} runs "
          f"({', '.join(f'{r:,.0f}' for r in rates[name])}); "
          f"{ceiling / median:.2f}x below the ceiling")


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
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--seconds", type=int, default=30,
                      help="how long the latency run replays at --rate")
  parser.add_argument("--parts", default="firehose,catch-up,latency")
  args = parser.parse_args(argv)
  parts = args.parts.split(",")
  prism = script("prism.sh", "install")
  script("kafka.sh", "fetch")
  work = tempfile.mkdtemp(prefix="pulse-bench-")
  bootstrap = script("kafka.sh", "start", os.path.join(work, "kafka"))
  try:
    if "firehose" in parts:
      print("## firehose into the local broker, flat out")
      for producers in (1, 2):
        rates = []
        for run_number in range(3):
          total = firehose(Settings([HOUR], bootstrap, f"fh-{producers}-{run_number}",
                                    rate=0, producers=producers, loop=True,
                                    max_events=args.events, quiet=True))
          assert total["failed"] == 0, total["errors"]
          rates.append(total["events_per_second"])
        print(f"producers={producers}: median {statistics.median(rates):,.0f} events/s "
              f"(runs: {', '.join(f'{r:,.0f}' for r in rates)})")
    if "catch-up" in parts:
      print(f"## catching up on a topic of {args.events:,} events (job start included)")
      firehose(Settings([HOUR], bootstrap, "catch-up", rate=0, loop=True,
                        max_events=args.events, quiet=True))
      catch_up(bootstrap, "catch-up", work, prism, args.events, args.repeats)
    if "latency" in parts:
      latency(bootstrap, work, prism, args.rate, args.seconds)
  finally:
    script("kafka.sh", "stop", os.path.join(work, "kafka"))


def latency(bootstrap, work, prism, rate, seconds, warm_up_s=5):
  """Latency over `seconds` of the looped 2015 hour at `rate` events/s into a running
  pipeline; overall, and without the first warm_up_s of production (the first frames of
  a run wait for each stage's first bundle: its set-up, its store connection)."""
  print(f"## latency, the 2015 hour looped at {rate:,.0f} events/s for {seconds} s")
  topic = "live"
  ensure_topic(bootstrap, topic, 4)
  sink = f"sqlite://{work}/live.db"
  result = pipeline(bootstrap, topic, sink, prism)
  time.sleep(5)
  # The firehose in a process of its own, as `pulse firehose` runs: in this one it would
  # share the interpreter lock with the pipeline's SDK worker (LOOPBACK), and both slow.
  subprocess.run([os.path.join(os.path.dirname(sys.executable), "pulse"), "firehose",
                  "--input", HOUR, "--bootstrap_servers", bootstrap, "--topic", topic,
                  "--rate", str(rate), "--loop", "--max_events", str(int(rate * seconds)),
                  "--quiet"], check=True)
  events = produced_times(bootstrap, topic)
  close_replay(Settings([HOUR], bootstrap, topic), max(t for t, _ in events))
  spread = (max(p for _, p in events) - min(p for _, p in events)) / 1000
  print(f"firehose: {len(events):,} events in {spread:.1f} s, {len(events) / spread:,.0f} "
        "events/s")
  store = open_store(sink)
  last_end = max(t for t, _ in events) // 60_000 * 60_000 + 60_000
  deadline = time.monotonic() + 120
  while (store.newest_window_end() or 0) < last_end and time.monotonic() < deadline:
    time.sleep(0.5)
  stored = store.stored_at()
  frames = {f["id"]: f for f in store.frames()}
  store.close()
  result.cancel()
  ends = sorted((f["window_end"], stored[i]) for i, f in frames.items())
  first_produced = min(p for _, p in events)
  for label, since in (("all", first_produced),
                       (f"after the first {warm_up_s} s", first_produced + warm_up_s * 1000)):
    per_event = []
    for event_ms, produced_ms in events:
      if produced_ms >= since:
        first_end = event_ms - event_ms % 60_000 + 60_000
        per_event.append(next(s for end, s in ends if end >= first_end) - produced_ms)
    per_frame = []
    for end, stored_ms in ends:
      closers = [p for t, p in events if t >= end + MAX_OUT_OF_ORDER_MS]
      if closers and min(closers) >= since:
        per_frame.append(stored_ms - min(closers))
    print(f"{label}: per event, production -> first frame stored: median "
          f"{statistics.median(per_event):,.0f} ms, p99 {percentile(per_event, .99):,.0f} ms "
          f"({len(per_event):,} events); per frame, closing event produced -> frame "
          f"stored: median {statistics.median(per_frame):,.0f} ms, "
          f"p99 {percentile(per_frame, .99):,.0f} ms ({len(per_frame)} frames)")


if __name__ == "__main__":
  main(sys.argv[1:])
