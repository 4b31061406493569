"""Streaming on Prism from the real Kafka broker: frames are stored while the firehose
still produces, equal the batch run's when the stream is drained, and survive a stop and a
restart with the same consumer group."""
import time

import pytest

from helpers import (HOURS, Firehose, counter, start_pipeline, stored_frames, wait_for,
                     wait_for_batch_frames)
from pulse.firehose.replay import Settings, ensure_topic, run as firehose

pytestmark = pytest.mark.servers


def test_frames_stream_while_producing_and_equal_the_batch_run(
    kafka_bootstrap, run_pulse, tmp_path):
  expected = run_pulse(HOURS["2015"]).frames
  topic, group = f"live-{time.monotonic_ns()}", "live"
  ensure_topic(kafka_bootstrap, topic, 4)
  sink = f"sqlite://{tmp_path}/frames.db"
  result = start_pipeline(kafka_bootstrap, topic, group, sink, tmp_path / "dead.jsonl")
  try:
    time.sleep(3)                                   # let Prism start the job
    producer = Firehose(kafka_bootstrap, topic, HOURS["2015"], rate=800)  # ~10 s
    producer.start()
    first_frame_at = None
    deadline = time.monotonic() + 180
    while len(stored_frames(sink)) < len(expected) and time.monotonic() < deadline:
      if first_frame_at is None and stored_frames(sink):
        first_frame_at = time.monotonic()
      time.sleep(0.1)
    producer.join(60)
    assert producer.total["delivered"] == 8273 and producer.total["failed"] == 0
    assert first_frame_at is not None and first_frame_at < producer.done_at, \
        "no frame was stored while the firehose was still producing"
    wait_for_batch_frames(sink, expected, 30)
    assert counter(result, "events_read") == 8273
    assert counter(result, "dead_letter_late") == 0
  finally:
    result.cancel()


def test_stop_and_restart_with_the_same_group_loses_and_duplicates_nothing(
    kafka_bootstrap, run_pulse, tmp_path):
  windows = ("--window_size=120", "--window_period=60")
  expected = run_pulse(HOURS["2015"], *windows).frames
  topic, group = f"restart-{time.monotonic_ns()}", "restart"
  ensure_topic(kafka_bootstrap, topic, 4)
  sink = f"sqlite://{tmp_path}/frames.db"
  first = start_pipeline(kafka_bootstrap, topic, group, sink, tmp_path / "dead1.jsonl",
                         *windows)
  producer = Firehose(kafka_bootstrap, topic, HOURS["2015"], rate=500)   # ~17 s
  try:
    time.sleep(3)
    producer.start()
    wait_for(lambda: len(stored_frames(sink)) >= 30, 120, "30 frames before the stop")
  finally:
    first.cancel()
  stopped_with = len(stored_frames(sink))
  assert stopped_with < len(expected)
  time.sleep(2)
  second = start_pipeline(kafka_bootstrap, topic, group, sink, tmp_path / "dead2.jsonl",
                          *windows)
  try:
    producer.join(120)
    assert producer.total["failed"] == 0
    wait_for_batch_frames(sink, expected, 120)
    # It resumed from the group's offsets, not from the start: windows the store already
    # held whole were recognised and skipped, not overwritten with a partial view.
    assert counter(second, "frames_already_stored") > 0
    assert counter(second, "events_read") < 8273
  finally:
    second.cancel()


def test_an_idle_partition_holds_frames_back_until_a_heartbeat_reaches_it(
    kafka_bootstrap, run_pulse, tmp_path):
  """Events only in partitions 0-2 of 4: partition 3 might still deliver old events, so
  no window may close; the firehose's heartbeat to every partition releases them all."""
  from confluent_kafka import Producer
  from pulse.firehose.replay import close_replay
  from pulse.io.archives import read_records
  from pulse.io.bigquery_export import to_nested
  from pulse.io.kafka_codec import encode_event
  expected = run_pulse(HOURS["2011"]).frames
  topic = f"idle-{time.monotonic_ns()}"
  ensure_topic(kafka_bootstrap, topic, 4)
  producer = Producer({"bootstrap.servers": kafka_bootstrap})
  last = 0
  for i, item in enumerate(read_records([HOURS["2011"]])):
    record = to_nested(item[1])
    last = max(last, record["created_at"] // 1000)
    producer.produce(topic, encode_event(record), partition=i % 3)
  assert producer.flush(30) == 0
  sink = f"sqlite://{tmp_path}/frames.db"
  result = start_pipeline(kafka_bootstrap, topic, "idle", sink, tmp_path / "dead.jsonl")
  try:
    time.sleep(12)
    assert stored_frames(sink) == [], "a window closed while a partition was silent"
    close_replay(Settings([], kafka_bootstrap, topic), last)
    wait_for_batch_frames(sink, expected, 60)
  finally:
    result.cancel()


def test_an_event_later_than_the_allowed_lateness_goes_to_the_dead_letter(
    kafka_bootstrap, run_pulse, tmp_path):
  """After the hour's windows closed, an event from its first minutes arrives: it is
  counted and dead-lettered as late, and the stored frames stay those of the batch run."""
  from confluent_kafka import Producer
  from pulse.io.archives import read_records
  from pulse.io.bigquery_export import to_nested
  from pulse.io.kafka_codec import encode_event
  from helpers import read_json_lines
  expected = run_pulse(HOURS["2011"]).frames
  topic = f"late-{time.monotonic_ns()}"
  ensure_topic(kafka_bootstrap, topic, 2)
  firehose(Settings([HOURS["2011"]], kafka_bootstrap, topic, rate=0, quiet=True,
                    close=False))
  sink, dead = f"sqlite://{tmp_path}/frames.db", tmp_path / "dead.jsonl"
  result = start_pipeline(kafka_bootstrap, topic, "late", sink, dead)
  try:
    # Without the closing heartbeat the last windows stay open; most have closed.
    wait_for(lambda: len(stored_frames(sink)) > 40, 60, "the early windows' frames")
    before = stored_frames(sink)
    early = to_nested(next(read_records([HOURS["2011"]]))[1])
    early["id"] = "late-arrival"
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for partition in (0, 1):
      producer.produce(topic, encode_event(early), partition=partition)
    producer.flush(10)
    wait_for(lambda: len(read_json_lines(dead)) == 2, 30, "two late dead letters")
    letters = read_json_lines(dead)
    assert {d["stage"] for d in letters} == {"late"}
    assert all("behind the watermark" in d["reason"] for d in letters)
    # A bundle's metrics reach the runner after its dead letters reach the file.
    wait_for(lambda: counter(result, "dead_letter_late") == 2, 30, "the late counter")
    assert stored_frames(sink)[:len(before)] == before == expected[:len(before)]
  finally:
    result.cancel()


def test_the_live_demo_says_caught_up_once_and_stops_quietly_on_ctrl_c(tmp_path):
  """./run_direct.sh --streaming as a user runs it (its own broker, the firehose at 1,000
  events/s, Prism): once all events are in, one "caught up" line instead of a repeated
  progress line; Ctrl-C (SIGINT to the whole process group, as a terminal sends it) ends it
  with the summary and no traceback, runner noise or metrics warning; the rate is over the
  seconds events were flowing, not the waiting after."""
  import json
  import os
  import signal
  import subprocess
  from helpers import REPO, stop_process
  sink = f"sqlite://{tmp_path}/frames.db"
  demo = subprocess.Popen(
      ["./run_direct.sh", "--streaming", "--sink", sink, "--dead_letter_output",
       str(tmp_path / "dead.jsonl")], cwd=REPO, stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True, start_new_session=True)
  lines = []
  try:
    deadline = time.monotonic() + 240
    for line in demo.stdout:
      lines.append(line)
      if "caught up" in line or time.monotonic() > deadline:
        break
    time.sleep(12)                  # a quiet spell longer than the progress cadence
    os.killpg(demo.pid, signal.SIGINT)
    rest, _ = demo.communicate(timeout=60)
  finally:
    stop_process(demo)
  output = "".join(lines) + rest
  assert demo.returncode == 0, output[-3000:]
  assert sum("caught up: 8273 events read, 69 frames stored" in l for l in
             output.splitlines()) == 1, output[-3000:]
  progress = [l.split(" INFO ")[1] for l in output.splitlines() if "so far:" in l]
  assert len(progress) == len(set(progress))          # no identical progress lines
  for noise in ("Traceback", "StatusCode", "no metrics from the runner", "Bundle Failed",
                "Exception in thread", "Really "):
    assert noise not in output, output[-3000:]
  summary = json.loads(output.split("\nsummary: ")[-1].splitlines()[0])
  assert summary["events_read"] == 8273 and summary["frames_written"] == 69
  assert summary["seconds_events_flowed"] < summary["seconds"] - 10
  assert 600 < summary["events_per_second"] < 1500    # the firehose sends 1,000/s
  assert "events/s over the" in output
