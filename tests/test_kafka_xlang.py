"""--kafka_io=xlang: Beam's cross-language ReadFromKafka (Java KafkaIO) as the source, from
the expansion service jar of scripts/expansion_service.sh. The run goes on Prism: the Java
transforms run in the expansion service's loopback worker (no Docker), the Python ones in
this process (LOOPBACK); FnApiRunner cannot run Java."""
import os
import subprocess
import sys
import uuid

import apache_beam as beam
import pytest
from apache_beam.coders import RowCoder
from apache_beam.portability.api import beam_runner_api_pb2, external_transforms_pb2
from confluent_kafka import Producer

from helpers import HOURS
from kafka_broker import missing_tools, unavailable
from prism_runner import prism_options
from pulse.firehose.replay import Settings, run as firehose
from pulse.pipeline import graph
from pulse.pipeline.run import pipeline_options

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "scripts", "expansion_service.sh")
FETCH_TIMEOUT = 900    # a cold Maven repository downloads ~140 MB


@pytest.fixture(scope="module")
def expansion_jar():
  reason = missing_tools()
  if reason:
    unavailable(reason)
  fetch = subprocess.run(["bash", SCRIPT, "fetch"], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=FETCH_TIMEOUT,
                         env=dict(os.environ, PULSE_PYTHON=sys.executable))
  if fetch.returncode:
    raise RuntimeError(f"scripts/expansion_service.sh fetch failed:\n{fetch.stderr}")
  return fetch.stdout.strip().splitlines()[-1]


def _topic(name):
  return f"xlang-{name}-{uuid.uuid4().hex[:8]}"


def _build(argv):
  options = pipeline_options(argv)
  pipeline = beam.Pipeline(options=options)
  graph.build(pipeline, options)
  return pipeline


def test_xlang_without_a_jar_says_how_to_get_one():
  with pytest.raises(ValueError, match="scripts/expansion_service.sh fetch"):
    _build(["--input=kafka://127.0.0.1:9/t", "--kafka_io=xlang", "--kafka_stop=end"])


def test_xlang_refuses_an_unbounded_read():
  with pytest.raises(ValueError, match="--kafka_stop end"):
    _build(["--input=kafka://127.0.0.1:9/t", "--kafka_io=xlang",
            "--kafka_expansion_jar=/x.jar", "--streaming"])


@pytest.mark.servers
def test_xlang_graph_expands_kafkaio_read(kafka_bootstrap, expansion_jar, tmp_path):
  topic = _topic("expand")
  firehose(Settings([HOURS["2011"]], kafka_bootstrap, topic, rate=0, quiet=True))
  pipeline = _build([f"--input=kafka://{kafka_bootstrap}/{topic}", "--kafka_io=xlang",
                     f"--kafka_expansion_jar={expansion_jar}", "--kafka_stop=end",
                     "--kafka_start=earliest", f"--sink=sqlite://{tmp_path}/f.db"])
  proto = pipeline.to_runner_api()
  transforms = {t.unique_name: t for t in proto.components.transforms.values()}
  read, decode = transforms["ReadKafka/ReadFromKafka"], transforms["ReadKafka/Decode"]
  assert "ReadKafka/ReadFromKafka/KafkaIO.Read" in transforms
  # Bounded by max_num_records: KafkaIO's bounded read, the 2011 hour's 1639 events and
  # the firehose's 4 heartbeats (one per partition).
  assert any("ReadFromKafkaViaUnbounded/Read(KafkaUnboundedSource)" in name
             for name in transforms)
  [rows] = read.outputs.values()
  assert (proto.components.pcollections[rows].is_bounded
          == beam_runner_api_pb2.IsBounded.BOUNDED)
  assert _config(pipeline, "ReadKafka/ReadFromKafka").max_num_records == 1643
  # Decode (Python) reads KafkaIO's rows; KafkaIO's leaves run in a Java environment.
  assert rows in decode.inputs.values() or rows in _inputs(transforms, decode)
  java_envs = {transforms[name].environment_id for name in transforms
               if name.startswith("ReadKafka/ReadFromKafka/")} - {""}
  python_env = transforms["ReadKafka/Decode/ParDo(_DecodeFn)"].environment_id
  assert java_envs and python_env not in java_envs


def _inputs(transforms, composite):
  return {pc for name, t in transforms.items()
          if name.startswith(composite.unique_name + "/") for pc in t.inputs.values()}


def _config(pipeline, label):
  """The configuration row sent to the expansion service for the transform at label."""
  stack = [pipeline._root_transform()]
  while stack:
    applied = stack.pop()
    if applied.full_label == label:
      payload = external_transforms_pb2.ExternalConfigurationPayload.FromString(
          applied.transform._payload)
      return RowCoder(payload.schema).decode(payload.payload)
    stack.extend(applied.parts)
  raise KeyError(label)


@pytest.mark.servers
def test_xlang_run_gives_the_frames_of_the_file_run(kafka_bootstrap, expansion_jar,
                                                     run_pulse):
  topic = _topic("run")
  firehose(Settings([HOURS["2011"]], kafka_bootstrap, topic, rate=0, quiet=True))
  producer = Producer({"bootstrap.servers": kafka_bootstrap})
  producer.produce(topic, value=b"not avro", key=b"k")
  producer.flush(30)
  del producer        # its client would retry the broker after the session stops it
  from_kafka = run_pulse(f"kafka://{kafka_bootstrap}/{topic}", "--kafka_io=xlang",
                         f"--kafka_expansion_jar={expansion_jar}", "--kafka_stop=end",
                         "--kafka_start=earliest", "--kafka_group=" + _topic("g"),
                         *prism_options())
  from_file = run_pulse(HOURS["2011"])
  assert from_kafka.counter("events_read") == 1639
  [bad] = from_kafka.dead_letters
  assert (bad["stage"], bad["record"]) == ("decode", "not avro")
  assert bad["source"].startswith(f"kafka://{kafka_bootstrap}/{topic}[")
  assert from_kafka.frames == from_file.frames
