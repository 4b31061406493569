"""The pipeline on a real local Flink cluster (scripts/flink.sh) through ./run_flink.sh gives
the frames of the FnApiRunner run, in batch and streaming from Kafka."""
import json
import os
import time
import urllib.request

import pytest

from flink_cluster import flink_job_server_jar, flink_master, run_flink  # noqa: F401
from helpers import HOURS, stored_frames
from pulse.firehose.replay import Settings, run as firehose

pytestmark = pytest.mark.servers


def _get(master, path):
  with urllib.request.urlopen(f"http://{master}{path}", timeout=10) as response:
    return json.load(response)


def _summary(stdout):
  lines = [l for l in stdout.splitlines() if l.startswith("summary: ")]
  assert lines, stdout[-3000:]
  return json.loads(lines[-1][len("summary: "):])


def test_local_cluster_has_one_taskmanager_with_two_slots(flink_master):
  overview = _get(flink_master, "/overview")
  assert (overview["taskmanagers"], overview["slots-total"]) == (1, 2)
  assert flink_master.startswith("127.0.0.1:")
  managers = _get(flink_master, "/taskmanagers")["taskmanagers"]
  assert managers[0]["slotsNumber"] == 2


def test_batch_on_flink_gives_the_frames_of_the_direct_run(
    flink_job_server_jar, flink_master, run_pulse, tmp_path):
  direct = run_pulse(HOURS["2011"])
  sink = "sqlite://" + str(tmp_path / "flink.db")
  started = time.monotonic()
  done = run_flink(flink_master, flink_job_server_jar, HOURS["2011"], sink,
                   "--parallelism=2", f"--dead_letter_output={tmp_path / 'dead.jsonl'}",
                   timeout=600)
  assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
  summary = _summary(done.stdout)
  assert summary["events_read"] == direct.counter("events_read")
  assert stored_frames(sink) == direct.frames
  assert time.monotonic() - started < 600


def test_streaming_kafka_on_flink_gives_the_frames_of_the_batch_run(
    flink_job_server_jar, flink_master, kafka_bootstrap, run_pulse, tmp_path):
  topic = f"flink-{time.monotonic_ns()}"
  firehose(Settings([HOURS["2011"]], kafka_bootstrap, topic, rate=0, quiet=True))
  direct = run_pulse(HOURS["2011"])
  sink = "sqlite://" + str(tmp_path / "flink-streaming.db")
  done = run_flink(flink_master, flink_job_server_jar, f"kafka://{kafka_bootstrap}/{topic}",
                   sink, "--streaming", "--kafka_stop=end", "--kafka_start=earliest",
                   f"--kafka_group=g-{topic}", "--parallelism=2",
                   f"--dead_letter_output={tmp_path / 'dead.jsonl'}", timeout=600)
  assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
  assert not os.path.exists(tmp_path / "dead.jsonl") or not open(tmp_path / "dead.jsonl").read()
  assert stored_frames(sink) == direct.frames
