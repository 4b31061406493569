"""The firehose into a real Kafka broker, and the Kafka source reading it back."""
import json
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from helpers import HOURS
from pulse.firehose.replay import Settings, run as firehose
from pulse.io.kafka_codec import FINGERPRINT, decode_event, heartbeat_time
from pulse.cli import main

pytestmark = pytest.mark.servers


def _topic(name):
  return f"{name}-{time.monotonic_ns()}"


def _messages(bootstrap, topic, timeout=30):
  consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": _topic("reader"),
                       "auto.offset.reset": "earliest", "enable.auto.commit": False})
  meta = consumer.list_topics(topic, timeout=10).topics[topic]
  ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
          for p in meta.partitions}
  consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
  seen, out = {p: 0 for p in ends}, []
  deadline = time.monotonic() + timeout
  while any(seen[p] < ends[p] for p in ends) and time.monotonic() < deadline:
    for message in consumer.consume(500, 1.0):
      if message.error() is None:
        seen[message.partition()] = message.offset() + 1
        out.append(message)
  consumer.close()
  return out


def test_firehose_replays_a_real_hour_as_avro_keyed_by_actor(kafka_bootstrap):
  topic = _topic("firehose")
  total = firehose(Settings([HOURS["2011"]], kafka_bootstrap, topic, rate=0, quiet=True))
  assert total["delivered"] == total["sent"] == 1639 and total["failed"] == 0
  messages = _messages(kafka_bootstrap, topic)
  events = [m for m in messages if heartbeat_time(m.headers()) is None]
  assert len(events) == 1639
  assert all(m.value()[2:10] == FINGERPRINT for m in events)
  partitions_of = {}
  for m in events:
    record = decode_event(m.value())
    assert m.key().decode() == ((record["actor"] or {}).get("login") or "")
    partitions_of.setdefault(m.key(), set()).add(m.partition())
  partitions_of.pop(b"", None)      # no actor: any partition
  assert len(partitions_of) > 500 and all(len(p) == 1 for p in partitions_of.values())
  beats = [m for m in messages if heartbeat_time(m.headers()) is not None]
  assert {m.partition() for m in beats} == {0, 1, 2, 3}        # every partition


def test_firehose_holds_its_rate(kafka_bootstrap):
  topic = _topic("rate")
  total = firehose(Settings([HOURS["2011"]], kafka_bootstrap, topic, rate=500,
                            max_events=1000, quiet=True))
  assert total["delivered"] == 1000
  assert 1.8 < total["seconds"] < 3.0          # 1,000 events at 500/s


def test_firehose_reports_delivery_failures(kafka_bootstrap, capsys):
  """A topic that refuses large messages: each refusal is counted and reported, and the
  command exits 1; nothing is dropped unsaid."""
  from confluent_kafka.admin import AdminClient, NewTopic
  topic = _topic("small")
  admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
  admin.create_topics([NewTopic(topic, 2, 1, config={"max.message.bytes": "1200"})])[
      topic].result(30)
  code = main(["firehose", f"--input={HOURS['2011']}", f"--bootstrap_servers="
               f"{kafka_bootstrap}", f"--topic={topic}", "--rate=0", "--quiet"])
  out, err = capsys.readouterr()
  summary = json.loads(out.split("summary: ")[1])
  assert code == 1
  assert summary["failed"] > 0
  assert summary["delivered"] + summary["failed"] == summary["sent"] == 1639
  assert "Message size too large" in err or "MSG_SIZE_TOO_LARGE" in err


def test_bounded_kafka_run_gives_the_frames_of_the_file_run(kafka_bootstrap, run_pulse):
  topic = _topic("bounded")
  firehose(Settings([HOURS["2012"]], kafka_bootstrap, topic, rate=0, quiet=True))
  from_file = run_pulse(HOURS["2012"])
  from_kafka = run_pulse(f"kafka://{kafka_bootstrap}/{topic}", "--kafka_stop=end",
                         "--kafka_start=earliest", "--kafka_group=" + _topic("g"))
  assert from_kafka.counter("events_read") == 4074
  assert from_kafka.dead_letters == []
  assert from_kafka.frames == from_file.frames


def test_messages_that_are_not_events_go_to_the_dead_letter(kafka_bootstrap, run_pulse):
  topic = _topic("junk")
  firehose(Settings([HOURS["2011"]], kafka_bootstrap, topic, rate=0, quiet=True))
  producer = Producer({"bootstrap.servers": kafka_bootstrap})
  for value in (b"not avro at all", b"\xc3\x01" + b"\x00" * 8 + b"other schema",
                json.dumps({"type": "PushEvent"}).encode()):
    producer.produce(topic, value, key=b"x")
  producer.flush(10)
  clean = run_pulse(HOURS["2011"])
  dirty = run_pulse(f"kafka://{kafka_bootstrap}/{topic}", "--kafka_stop=end",
                    "--kafka_start=earliest", "--kafka_group=" + _topic("g"))
  reasons = sorted(d["reason"][:30] for d in dirty.dead_letters)
  assert reasons == ["Avro of another schema (finger", "not Avro single-object encodin",
                     "not Avro single-object encodin"]
  assert dirty.frames == clean.frames


def test_speedup_paces_by_event_time(kafka_bootstrap):
  """The 2011 hour spans an hour of event time: at 1,800 times real time, two seconds."""
  total = firehose(Settings([HOURS["2011"]], kafka_bootstrap, _topic("speedup"), rate=0,
                            speedup=1800, quiet=True))
  assert total["delivered"] == 1639
  assert 1.6 < total["seconds"] < 3.5


def test_loop_replays_again_later_in_event_time_with_new_ids(kafka_bootstrap):
  topic = _topic("loop")
  total = firehose(Settings([HOURS["2011"]], kafka_bootstrap, topic, rate=0, loop=True,
                            max_events=2 * 1639 + 10, quiet=True))
  assert total["delivered"] == 2 * 1639 + 10
  events = [decode_event(m.value()) for m in _messages(kafka_bootstrap, topic)
            if heartbeat_time(m.headers()) is None]
  first = {e["id"]: e["created_at"] for e in events if "~" not in e["id"]}
  second = {e["id"][:-2]: e["created_at"] for e in events if e["id"].endswith("~1")}
  assert len(first) == 1639 and len(second) == 1639
  assert all(second[i] - first[i] == 3_600_000_000 for i in first)   # one hour, in µs
