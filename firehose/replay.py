"""The mock firehose: replays GitHub Archive files into a Kafka topic at a set rate.

Each event goes as the nested BigQuery export record in Avro single-object encoding
(io/kafka_codec.py), keyed by actor login, with confluent-kafka. Every second each producer
also sends a heartbeat to every partition with the event time it has reached, so that a
partition that gets no events still lets the consumer's watermark advance. At the end of a
replay (not with --loop) one heartbeat a day past the last event closes the replayed time,
so a streaming consumer fires every window of it.

When no broker answers (one restarting, say), a producer holds new events back, saying so
every few seconds, and goes on where it was once one does: nothing is lost or reordered.
Each message may wait --delivery_timeout seconds; a producer that has had no broker for
that long stops, and its undelivered events count as failed.
"""
import multiprocessing
import sys
import time

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from pulse.io.archives import read_records
from pulse.io.bigquery_export import to_nested
from pulse.io.kafka_codec import (SCHEMA_HEADER, SCHEMA_NAME, BrokerWatch, encode_event,
                                  heartbeat_headers)

HEARTBEAT_EVERY_S = 1.0
CLOSE_AFTER_MS = 24 * 3_600_000


class Settings:
  """What one replay does; see firehose/cli.py for the meaning of each."""
  def __init__(self, inputs, bootstrap_servers, topic, rate=1000.0, producers=1,
               speedup=0.0, loop=False, partitions=4, max_events=0, quiet=False,
               close=True, delivery_timeout_s=120.0):
    self.inputs = list(inputs)
    self.bootstrap_servers = bootstrap_servers
    self.topic = topic
    self.rate = float(rate)
    self.producers = max(1, int(producers))
    self.speedup = float(speedup)
    self.loop = loop
    self.partitions = partitions
    self.max_events = max_events
    self.quiet = quiet
    self.close = close and not loop
    self.delivery_timeout_s = float(delivery_timeout_s)


def ensure_topic(bootstrap_servers, topic, partitions):
  """Create the topic if it does not exist; return its partition count."""
  admin = AdminClient({"bootstrap.servers": bootstrap_servers})
  metadata = admin.list_topics(timeout=30)
  if topic not in metadata.topics:
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions,
                                            replication_factor=1)])
    try:
      futures[topic].result(30)
    except KafkaException as error:
      if "TOPIC_ALREADY_EXISTS" not in str(error):
        raise
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
      topics = admin.list_topics(topic, timeout=10).topics
      if topic in topics and topics[topic].partitions and topics[topic].error is None:
        break
      time.sleep(0.2)
  return len(admin.list_topics(topic, timeout=10).topics[topic].partitions)


def _events(settings, producer, stats):
  """(key, value, event_time_ms) of this producer's share, pass after pass with --loop
  (each pass shifted in event time by the span of the input, ids suffixed ~pass).
  Producer k of K takes every K-th event, so all producers move through event time
  together and none runs ahead of the others' watermark."""
  span, pass_number = None, 0
  while True:
    first = last = None
    for index, item in enumerate(read_records(settings.inputs)):
      if index % settings.producers != producer:
        continue
      if item[0] != "record":
        stats["unreadable"] += 1
        continue
      try:
        record = to_nested(item[1])
      except (ValueError, AttributeError, TypeError):
        stats["unreadable"] += 1
        continue
      actor = (record["actor"] or {}).get("login") or ""
      micros = record["created_at"]
      first = micros if first is None else min(first, micros)
      last = micros if last is None else max(last, micros)
      if pass_number:
        record["created_at"] = micros + pass_number * span
        if record.get("id"):      # an id-less event gets its own from normalise
          record["id"] = f"{record['id']}~{pass_number}"
      yield actor.encode(), encode_event(record), record["created_at"] // 1000
    if not settings.loop or first is None:
      return
    if span is None:
      span = (last - first) // 3_600_000_000 * 3_600_000_000 + 3_600_000_000
    pass_number += 1


def _producer(settings, say, config=()):
  """(producer, watch): messages may wait settings.delivery_timeout_s for the broker; the
  watch says through say() when there is none."""
  watch = BrokerWatch(say)
  kafka = Producer({"bootstrap.servers": settings.bootstrap_servers,
                    "message.timeout.ms": int(settings.delivery_timeout_s * 1000),
                    **watch.config(), **dict(config)})
  return kafka, watch


def _produce(kafka, *args, **kwargs):
  while True:
    try:
      return kafka.produce(*args, **kwargs)
    except BufferError:          # local queue full: let deliveries drain
      kafka.poll(0.05)


def _say(settings, producer, out):
  name = f"firehose[{producer}]" if settings.producers > 1 else "firehose"
  return lambda text: print(f"{name}: {text}", file=out or sys.stderr, flush=True)


def replay(settings, producer=0, report=None, out=None):
  """Run one producer; returns its counters. report(stats) is called about every second;
  what the broker's absence does goes to out (stderr by default)."""
  stats = {"sent": 0, "delivered": 0, "failed": 0, "unreadable": 0, "errors": [],
           "last_event_ms": None, "stopped": None}
  budget = settings.delivery_timeout_s

  def delivered(error, message):
    if error is None:
      stats["delivered"] += 1
      watch.ok()
    else:
      stats["failed"] += 1
      if len(stats["errors"]) < 5:
        stats["errors"].append(str(error))

  def beat_delivered(error, message):
    if error is None:
      watch.ok()

  kafka, watch = _producer(settings, _say(settings, producer, out),
                           {"enable.idempotence": True, "linger.ms": 20,
                            "compression.type": "lz4"})
  partitions = len(kafka.list_topics(settings.topic, timeout=30)
                   .topics[settings.topic].partitions)
  rate = settings.rate / settings.producers
  headers = [(SCHEMA_HEADER, SCHEMA_NAME.encode())]
  started = time.monotonic()
  next_beat = started + HEARTBEAT_EVERY_S

  def wait(due, event_time):
    """Heartbeats and reports until due, and for as long as no broker answers; False
    once that has lasted longer than the budget."""
    nonlocal next_beat
    while True:
      now = time.monotonic()
      if now >= next_beat:
        for partition in range(partitions):
          _produce(kafka, settings.topic, b"", partition=partition,
                   headers=heartbeat_headers(event_time), on_delivery=beat_delivered)
        next_beat = now + HEARTBEAT_EVERY_S
        if report:
          report(stats, now - started)
      down_s = watch.tick(lambda: f"; new events held back, {len(kafka):,} messages queued"
                          f"; giving up after {budget:.0f} s (--delivery_timeout)")
      if down_s > budget:
        return False
      if not down_s and now >= due:
        return True
      kafka.poll(0.05 if down_s else min(due - now, 0.05))

  first_time = None
  event_time = 0
  for key, value, event_time in _events(settings, producer, stats):
    if settings.max_events and stats["sent"] >= -(-settings.max_events // settings.producers):
      break
    first_time = event_time if first_time is None else first_time
    due = started + max(stats["sent"] / rate if rate > 0 else 0.0,
                        (event_time - first_time) / 1000 / settings.speedup
                        if settings.speedup > 0 else 0.0)
    if not wait(due, event_time):
      stats["stopped"] = (f"no Kafka broker answered for {budget:.0f} s (--delivery_timeout)"
                          f": stopped after {stats['sent']:,} events")
      watch.say(f"{stats['stopped']}; {len(kafka):,} messages not delivered")
      kafka.purge()              # their delivery reports count the events as failed
      break
    _produce(kafka, settings.topic, value, key=key, headers=headers, on_delivery=delivered)
    stats["sent"] += 1
    stats["last_event_ms"] = max(stats["last_event_ms"] or event_time, event_time)
    kafka.poll(0)
  # Every message gives up by itself after the budget; flush a second at a time to report.
  deadline = time.monotonic() + budget + 5
  while kafka.flush(1) and time.monotonic() < deadline:
    watch.tick(lambda: f"; {len(kafka):,} messages still to deliver")
  remaining = len(kafka)
  if remaining:
    stats["failed"] += remaining
    stats["errors"].append(f"{remaining} messages still undelivered after {budget:.0f} s")
  stats["seconds"] = time.monotonic() - started
  return stats


def _worker(settings, producer, queue):
  try:
    queue.put(replay(settings, producer))
  except Exception as error:            # reported by the parent, not lost with the child
    queue.put({"sent": 0, "delivered": 0, "failed": 0, "unreadable": 0, "errors": [],
               "stopped": f"producer {producer}: {type(error).__name__}: {error}",
               "seconds": 0.0, "last_event_ms": None})


def close_replay(settings, last_event_ms, out=None):
  """Heartbeat past the replayed time to every partition, once all producers are done."""
  kafka, _ = _producer(settings, _say(settings, 0, out))
  budget = settings.delivery_timeout_s
  partitions = len(kafka.list_topics(settings.topic, timeout=budget)
                   .topics[settings.topic].partitions)
  for partition in range(partitions):
    kafka.produce(settings.topic, b"", partition=partition,
                  headers=heartbeat_headers(last_event_ms + CLOSE_AFTER_MS))
  if kafka.flush(budget + 5):
    raise RuntimeError(f"the closing heartbeat was not delivered within {budget:.0f} s")


def run(settings, out=None):
  """Replay with settings.producers processes; returns the summed counters, with the
  reasons any producer stopped early in "stopped"."""
  ensure_topic(settings.bootstrap_servers, settings.topic, settings.partitions)

  def progress(stats, seconds):
    if not settings.quiet:
      print(f"firehose: {stats['sent']:,} sent, {stats['delivered']:,} delivered, "
            f"{stats['failed']:,} failed, {stats['sent'] / seconds:,.0f} events/s"
            + (" per producer" if settings.producers > 1 else ""), file=out or sys.stderr,
            flush=True)

  if settings.producers == 1:
    results = [replay(settings, 0, progress, out)]
  else:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_worker, args=(settings, k, queue))
               for k in range(settings.producers)]
    for worker in workers:
      worker.start()
    results = [queue.get() for _ in workers]
    for worker in workers:
      worker.join()
  total = {key: sum(r[key] for r in results)
           for key in ("sent", "delivered", "failed", "unreadable")}
  total["errors"] = [e for r in results for e in r["errors"]]
  total["stopped"] = [r["stopped"] for r in results if r["stopped"]]
  last = [r["last_event_ms"] for r in results if r["last_event_ms"] is not None]
  if settings.close and last and not total["stopped"]:
    try:
      close_replay(settings, max(last), out)
    except (KafkaException, RuntimeError) as error:
      total["stopped"].append(f"the replayed time was not closed: {error}")
  total["seconds"] = max(r["seconds"] for r in results)
  total["events_per_second"] = (total["delivered"] / total["seconds"]
                                if total["seconds"] else 0.0)
  return total
