"""Dataflow, offline: every graph (files, BigQuery, Kafka) translates to a Dataflow job with
--dry_run (nothing submitted, no credentials), run_dataflow.sh refuses incomplete flags, and
the BigQuery and gs:// Avro reads run for real against gcp-storage-emulator, only
BigQuery's own export job being faked."""
import datetime
import json
import os
import re
import subprocess
import time
import urllib.parse

import fastavro
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.gcp import bigquery, bigquery_tools
from apache_beam.io.gcp.bigquery_read_internal import bigquery_export_destination_uri
from apache_beam.io.gcp.internal.clients.bigquery import TableSchema
import apache_beam as beam

from pulse.firehose.replay import Settings, run as firehose
from pulse.io.bigquery_export import convert
from pulse.io.bigquery_source import table_spec
from pulse.pipeline import graph
from pulse.cli import main
from pulse.pipeline.run import pipeline_options

from helpers import HOURS, REPO, stored_frames
from object_store_servers import gcs_emulator, gcs_upload, http, use_gcs_emulator

BUCKET = "pulse-bucket"      # gs://b/... is not a valid bucket: Beam would hunt for a default
DATAFLOW = ["--runner=DataflowRunner", "--project=pulse-test", "--region=us-central1",
            f"--temp_location=gs://{BUCKET}/tmp", "--dry_run=True", "--no_auth"]
# Steps every graph has, whatever its source (names as build() gives them).
COMMON_STEPS = {"NormaliseEvents/Normalise", "Venturi", "FramesFromEdges/Windows",
                "FramesFromEdges/Frames", "WriteFrames", "CollectDeadLetters", "DeadLetters"}
TRANSLATE_S = 20   # translation takes ~3 s; a hang on the network would take minutes


def dataflow_job(*flags):
  """The translated job proto's transform names, from an in-process dry run."""
  began = time.monotonic()
  options = pipeline_options([*DATAFLOW, *flags])
  pipeline = beam.Pipeline(options=options)
  graph.build(pipeline, options)
  result = pipeline.run()
  assert time.monotonic() - began < TRANSLATE_S
  proto = result.job.proto_pipeline
  (environment,) = proto.components.environments.values()
  assert "beam_python3" in environment.payload.decode("latin-1")   # Dataflow's container
  return {t.unique_name for t in proto.components.transforms.values()}, environment


def test_batch_graph_translates_for_dataflow(tmp_path):
  # gs:// globs of JSON hours and of both Avro shapes: MatchAll reads nothing while
  # building, so no store needs to exist.
  names, environment = dataflow_job(
      f"--input=gs://{BUCKET}/hours/*.json.gz,gs://{BUCKET}/exports/*.avro",
      f"--sink=jsonl://gs://{BUCKET}/frames.jsonl",
      f"--dead_letter_output=gs://{BUCKET}/dead.jsonl",
      f"--edges_output=gs://{BUCKET}/edges.jsonl",
      f"--setup_file={os.path.join(REPO, 'setup.py')}")
  assert COMMON_STEPS | {"ReadArchives/Match", "ReadArchives/Decode", "WriteEdges",
                         "WriteFrames/Store/Count",
                         "WriteFrames/Store/JsonLines/Write"} <= names
  assert not any(n.startswith(("ReadKafka", "ReadBigQuery")) for n in names)
  staged = {d.role_payload for d in environment.dependencies}
  assert any(b"workflow.tar.gz" in p for p in staged)   # the sdist of --setup_file


def test_bigquery_graph_translates_for_dataflow():
  names, _ = dataflow_job("--input=bigquery:githubarchive.day.20150101",
                          f"--sink=jsonl://gs://{BUCKET}/frames.jsonl")
  assert COMMON_STEPS | {"ReadBigQuery/Export/Read/SDFBoundedSourceReader",
                         "ReadBigQuery/Export/_PassThroughThenCleanup",
                         "ReadBigQuery/Rows"} <= names
  assert not any(n.startswith("ReadArchives") for n in names)


@pytest.mark.servers
def test_kafka_streaming_graph_translates_for_dataflow(kafka_bootstrap, tmp_path):
  # The driver plans partitions from the broker, so the topic must exist and hold events.
  topic = f"dataflow-{time.monotonic_ns()}"
  sent = firehose(Settings([HOURS["2011"]], kafka_bootstrap, topic, rate=0, quiet=True))
  assert sent["delivered"] == 1639
  names, _ = dataflow_job(f"--input=kafka://{kafka_bootstrap}/{topic}", "--streaming",
                          "--kafka_start=earliest",
                          "--sink=sqlite://" + str(tmp_path / "frames.db"))
  assert COMMON_STEPS | {"ReadKafka"} <= names
  assert any(n.startswith("ReadKafka/") for n in names)


@pytest.mark.parametrize("spec, table", [
    ("bigquery:githubarchive.day.20150101", "githubarchive:day.20150101"),
    ("bigquery:my-project:gh.events_2015", "my-project:gh.events_2015")])
def test_table_spec(spec, table):
  assert table_spec(spec) == table


@pytest.mark.parametrize("argv, message", [
    (["--input=bigquery:day.20150101"], "bigquery:PROJECT.DATASET.TABLE"),
    (["--input=bigquery:githubarchive.day"], "bigquery:PROJECT.DATASET.TABLE"),
    (["--input=bigquery:githubarchive.day.20150101"], "needs --temp_location=gs://"),
    (["--input=bigquery:githubarchive.day.20150101", "--temp_location=/tmp/x"],
     "needs --temp_location=gs://"),
    (["--input=bigquery:githubarchive.day.20150101,gs://b/x.avro"], "the only --input"),
    (["--runner=DataflowRunner", "--project=pulse-test", "--input=x.json"],
     "missing: --region, --temp_location"),
    (["--runner=DataflowRunner", "--project=pulse-test", "--region=us-central1",
      "--temp_location=gs://b/tmp", "--input=x.json"], "Invalid GCS bucket")])
def test_bad_flags_fail_fast(argv, message, tmp_path, capsys):
  began = time.monotonic()
  code = main(["run", *argv, "--sink=sqlite://" + str(tmp_path / "f.db")])
  assert code == 2 and message in capsys.readouterr().err
  assert time.monotonic() - began < 10
  assert not os.path.exists(tmp_path / "f.db")


def run_dataflow_sh(*flags):
  return subprocess.run([os.path.join(REPO, "run_dataflow.sh"), *flags], capture_output=True,
                        text=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("flags, message", [
    ([], "missing --project --region --temp_location"),
    (["--project", "p", "--region=r"], "missing --temp_location"),
    (["--project=p", "--region", "r", "--temp_location", "/tmp/t"], "must be gs://"),
    (["--project=p", "--region=r", "--temp_location=gs://bb/t"], "--sink jsonl://gs://"),
    (["--project=p", "--region=r", "--temp_location=gs://bb/t", "--sink=sqlite://f.db"],
     "workers' disks")])
def test_run_dataflow_sh_refuses_incomplete_flags(flags, message):
  done = run_dataflow_sh(*flags, "--input=gs://bb/x.json.gz")
  assert done.returncode == 2 and message in done.stderr, done.stderr


def test_run_dataflow_sh_dry_run(tmp_path):
  done = run_dataflow_sh("--project", "pulse-test", "--region", "us-central1",
                         "--temp_location", f"gs://{BUCKET}/tmp", "--dry_run", "--no_auth",
                         "--input=bigquery:githubarchive.day.20150101",
                         f"--sink=jsonl://gs://{BUCKET}/frames.jsonl")
  assert done.returncode == 0, done.stderr
  assert "running on DataflowRunner" in done.stderr
  assert "summary: " in done.stdout


# --- Real reads through gcp-storage-emulator ---

def logical_types(source, target):
  """Rewrite an Avro export as BigQuery writes it for Beam (use_avro_logical_types):
  created_at a timestamp-micros, which fastavro reads as a datetime."""
  with open(source, "rb") as f:
    reader = fastavro.reader(f)
    schema, records = reader.writer_schema, list(reader)
  for field in schema["fields"]:
    if field["name"] == "created_at":
      field["type"] = ["null", {"type": "long", "logicalType": "timestamp-micros"}]
  with open(target, "wb") as f:
    fastavro.writer(f, schema, records)
  with open(target, "rb") as f:
    assert isinstance(next(fastavro.reader(f))["created_at"], datetime.datetime)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
  """{name: local Avro path}: the 2011 hour nested, the 2015 hour flat, as `pulse convert`
  writes them (exports/) and as BigQuery exports them for Beam (bq/)."""
  root = tmp_path_factory.mktemp("exports")
  files = {}
  for year, shape in (("2011", "nested"), ("2015", "flat")):
    plain, bq = str(root / f"{year}-{shape}.avro"), str(root / f"bq-{year}-{shape}.avro")
    convert(HOURS[year], plain, shape)
    logical_types(plain, bq)
    files[f"exports/{year}-{shape}.avro"], files[f"bq/{year}-{shape}.avro"] = plain, bq
  return files


@pytest.fixture(scope="module")
def gcs_server(tmp_path_factory, exports):
  server = gcs_emulator(str(tmp_path_factory.mktemp("gcs")))
  if server is None:
    pytest.skip("gcp-storage-emulator not installed (pip install -e '.[test]')")
  server.start()
  try:
    gcs_upload(server, BUCKET, {n: p for n, p in exports.items() if n.startswith("exports/")})
    yield server
  finally:
    server.stop()


@pytest.fixture
def gs(gcs_server, monkeypatch, tmp_path):
  use_gcs_emulator(monkeypatch, tmp_path, gcs_server.url)
  return gcs_server


@pytest.mark.servers
def test_flat_avro_from_gcs_gives_the_frames_of_the_json_hour(gs, run_pulse):
  remote = run_pulse(f"gs://{BUCKET}/exports/2015-flat.avro")
  assert remote.dead_letters == [] and remote.counter("events_read") == 8273
  assert remote.frames == run_pulse(HOURS["2015"]).frames


@pytest.fixture
def fake_bigquery(gs, exports, monkeypatch):
  """BigQuery's part of an EXPORT read, faked: the extract job "writes" the chosen export
  into the emulator where Beam asked for it. Beam's own code does the rest: finding the
  files, reading the Avro, deleting the export afterwards. Returns a list of the export
  patterns used."""
  chosen, patterns = {}, []

  def export_files(source, bq):
    pattern = bigquery_export_destination_uri(
        source.gcs_location, source.options.view_as(
            beam.options.pipeline_options.GoogleCloudOptions).temp_location,
        source._source_uuid)
    patterns.append(pattern)
    name = pattern[len(f"gs://{BUCKET}/"):].replace("*", "000000000000")
    with open(exports[chosen["name"]], "rb") as f:
      http("POST", f"{gs.url}/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name="
           + urllib.parse.quote(name, safe=""), f.read(), "application/octet-stream")
    return TableSchema(fields=[]), FileSystems.match([pattern])[0].metadata_list

  monkeypatch.setattr(bigquery._CustomBigQuerySource, "_export_files", export_files)
  monkeypatch.setattr(bigquery._CustomBigQuerySource, "estimate_size", lambda self: None)
  monkeypatch.setattr(bigquery_tools.BigQueryWrapper, "_bigquery_client",
                      staticmethod(lambda options: object()))
  return chosen, patterns


def listed(server, prefix):
  text = http("GET", f"{server.url}/storage/v1/b/{BUCKET}/o?prefix={prefix}")
  return [item["name"] for item in json.loads(text).get("items", [])]


@pytest.mark.servers
@pytest.mark.parametrize("year, shape", [("2011", "nested"), ("2015", "flat")])
def test_bigquery_input_gives_the_frames_of_the_json_hour(fake_bigquery, gs, run_pulse,
                                                         year, shape):
  chosen, patterns = fake_bigquery
  chosen["name"] = f"bq/{year}-{shape}.avro"
  remote = run_pulse("bigquery:githubarchive.day.test", f"--temp_location=gs://{BUCKET}/tmp")
  local = run_pulse(HOURS[year])
  assert len(patterns) == 1 and patterns[0].startswith(f"gs://{BUCKET}/tmp/")
  assert remote.dead_letters == []
  assert remote.counter("events_read") == local.counter("events_read")
  assert remote.frames == local.frames
  assert listed(gs, "tmp/") == [] and listed(gs, "exports/")   # Beam removed the export


@pytest.mark.servers
def test_jsonl_sink_on_gcs_holds_the_frames_of_the_sqlite_sink(gs, run_pulse, capsys):
  sink = f"jsonl://gs://{BUCKET}/out/frames.jsonl"
  code = main(["run", f"--input={HOURS['2011']}", f"--sink={sink}"])
  assert code == 0, capsys.readouterr().err
  assert re.search(r"frames written\s+[1-9]", capsys.readouterr().out)
  frames = stored_frames(sink)
  assert len(frames) > 50 and frames == run_pulse(HOURS["2011"]).frames
