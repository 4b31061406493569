"""Faults with real parts: a Kafka broker killed (SIGKILL) and restarted on its port and
data mid-stream, a streaming pipeline killed hard (its process group, Prism included) and
started again with the same consumer group, a broker that does not come back. The frames
stored must be the batch run's, none lost, none twice."""
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from helpers import (HOURS, Firehose, counter, start_pipeline, stored_frames, wait_for,
                     wait_for_batch_frames)
from kafka_broker import kafka_broker, kill_broker, restart_broker
from prism_runner import prism_options
from pulse.firehose.replay import ensure_topic
from pulse.cli import main

pytestmark = pytest.mark.servers

EVENTS = 8273                     # in HOURS["2015"]


@pytest.fixture
def broker(tmp_path):
  """A broker of the test's own, to kill: (its folder, its bootstrap address)."""
  folder = tmp_path / "kafka"
  with kafka_broker(folder) as bootstrap:
    yield folder, bootstrap


def test_a_broker_killed_and_restarted_mid_stream_loses_nothing(broker, run_pulse, tmp_path,
                                                                 caplog):
  """The firehose holds its events while the broker is gone and sends them once it is
  back; the pipeline on Prism waits, then reads on: every frame is the batch run's, every
  event read once."""
  folder, bootstrap = broker
  expected = run_pulse(HOURS["2015"]).frames
  ensure_topic(bootstrap, "crash", 4)
  sink = f"sqlite://{tmp_path}/frames.db"
  result = start_pipeline(bootstrap, "crash", "crash", sink, tmp_path / "dead.jsonl")
  said = io.StringIO()
  producer = Firehose(bootstrap, "crash", HOURS["2015"], rate=500, out=said)   # ~17 s
  try:
    time.sleep(3)                                   # let Prism start the job
    producer.start()
    wait_for(lambda: len(stored_frames(sink)) >= 10, 60, "10 frames before the crash")
    kill_broker(folder)
    killed_at = time.monotonic()
    assert producer.done_at is None, "the firehose had finished before the crash"
    time.sleep(3)
    restart_broker(folder)
    back_at = time.monotonic()
    producer.join(120)
    assert not producer.is_alive(), "the firehose did not finish within 120 s"
    total = producer.total
    assert (total["delivered"], total["failed"], total["stopped"]) == (EVENTS, 0, []), total
    assert "Kafka unreachable" in said.getvalue(), said.getvalue()
    assert "Kafka reachable again after" in said.getvalue(), said.getvalue()
    wait_for_batch_frames(sink, expected, 120)
    print(f"broker down {back_at - killed_at:.1f} s; every frame stored "
          f"{time.monotonic() - back_at:.1f} s after it was back\n{said.getvalue()}")
    assert counter(result, "events_read") == EVENTS
    assert counter(result, "dead_letter_late") == 0
    assert "Kafka reachable again after" in caplog.text   # the source's readers said so
  finally:
    result.cancel()


def test_the_firehose_stops_and_says_so_when_the_broker_stays_away(broker, capsys):
  """Past --delivery_timeout without a broker the replay stops: exit 1, every event sent
  either delivered or counted failed, and the reason said."""
  folder, bootstrap = broker
  ensure_topic(bootstrap, "away", 4)
  code = []
  replay = threading.Thread(daemon=True, target=lambda: code.append(main([
      "firehose", f"--input={HOURS['2015']}", f"--bootstrap_servers={bootstrap}",
      "--topic=away", "--rate=800", "--delivery_timeout=3", "--quiet"])))
  replay.start()
  time.sleep(2)
  kill_broker(folder)
  replay.join(60)
  assert not replay.is_alive(), "the firehose did not give up within 60 s"
  out, err = capsys.readouterr()
  summary = json.loads(out.split("summary: ")[1])
  assert code == [1]
  assert summary["delivered"] + summary["failed"] == summary["sent"] < EVENTS
  assert "firehose: Kafka unreachable: all brokers down" in err
  assert "stopped early: no Kafka broker answered for 3 s (--delivery_timeout)" in err


def group_alive(pgid):
  """PIDs of the process group's processes that still run (zombies are gone)."""
  alive = []
  for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
      with open(f"/proc/{pid}/stat") as f:
        state, _, group = f.read().rsplit(")", 1)[1].split()[:3]
    except OSError:
      continue
    if int(group) == pgid and state != "Z":
      alive.append(int(pid))
  return alive


def test_a_pipeline_killed_hard_mid_stream_resumes_without_loss_or_duplicates(
    kafka_bootstrap, run_pulse, tmp_path):
  """`pulse run --streaming` on Prism, killed with SIGKILL (its process group: the driver,
  the SDK harness and Prism) while the firehose produces; a new run with the same group
  resumes from the committed offsets, skips the windows stored whole, and ends with
  exactly the batch run's frames."""
  windows = ("--window_size=120", "--window_period=60")
  expected = run_pulse(HOURS["2015"], *windows).frames
  topic, group = f"killed-{time.monotonic_ns()}", "killed"
  ensure_topic(kafka_bootstrap, topic, 4)
  sink = f"sqlite://{tmp_path}/frames.db"
  log_path = tmp_path / "first.log"
  with open(log_path, "w") as log:
    first = subprocess.Popen(
        [sys.executable, "-m", "pulse.pipeline", "run", f"--input=kafka://{kafka_bootstrap}/"
         f"{topic}", f"--sink={sink}", f"--kafka_group={group}",
         f"--dead_letter_output={tmp_path / 'dead1.jsonl'}", *windows,
         *prism_options(streaming=True)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=tmp_path,
        start_new_session=True)                     # its own group, Prism in it
  producer = Firehose(kafka_bootstrap, topic, HOURS["2015"], rate=500)   # ~17 s
  try:
    wait_for(lambda: "running on PrismRunner" in log_path.read_text(), 60,
             "the first run to start")
    time.sleep(3)                                   # let Prism start the job
    producer.start()
    wait_for(lambda: len(stored_frames(sink)) >= 30, 90, "30 frames before the kill")
    assert len(group_alive(first.pid)) >= 2, "Prism is not in the run's process group"
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    wait_for(lambda: not group_alive(first.pid), 10, "the run's processes to be gone")
  except AssertionError as error:
    raise AssertionError(f"{error}\n--- the first run's log:\n{log_path.read_text()[-3000:]}")
  finally:
    if first.poll() is None:
      os.killpg(first.pid, signal.SIGKILL)
      first.wait(10)
  killed_with = len(stored_frames(sink))
  assert killed_with < len(expected), "the first run had stored every frame"
  second = start_pipeline(kafka_bootstrap, topic, group, sink, tmp_path / "dead2.jsonl",
                          *windows)
  try:
    producer.join(120)
    assert producer.total["delivered"] == EVENTS and producer.total["failed"] == 0
    wait_for_batch_frames(sink, expected, 120)
    # Resumed from the group's offsets: windows stored whole were skipped, not rewritten
    # from part of their events, and the events before those offsets were not read again.
    assert counter(second, "frames_already_stored") > 0
    assert counter(second, "events_read") < EVENTS
    print(f"killed with {killed_with} of {len(expected)} frames stored; the second run "
          f"read {counter(second, 'events_read')} events, skipped "
          f"{counter(second, 'frames_already_stored')} stored frames")
  finally:
    second.cancel()
