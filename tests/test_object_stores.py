"""The pipeline reads s3:// (moto_server) and gs:// (gcp-storage-emulator) inputs, globs
and Avro exports included, and makes the same frames as from the same files on disk."""
import os
import re
import shutil
import time

import pytest

from pulse.io.bigquery_export import convert
from pulse.cli import main

from helpers import HOURS, stored_frames
from object_store_servers import (gcs_emulator, gcs_upload, moto_server, s3_upload,
                                  use_gcs_emulator)

BUCKET = "pulse"
CASES = {"glob": "hours/*.json.gz", "avro": "exports/2011-nested.avro"}

@pytest.fixture(scope="module")
def store(tmp_path_factory):
  """(local root, {object name: local path}): two hours, a file the glob must skip and an
  Avro export of the 2011 hour."""
  root = tmp_path_factory.mktemp("store")
  os.makedirs(root / "hours")
  os.makedirs(root / "exports")
  for year in ("2011", "2012"):   # 1,639 + 4,074 events
    shutil.copy(HOURS[year], root / "hours")
  (root / "hours" / "README.txt").write_text("not an hour\n")
  convert(HOURS["2011"], str(root / CASES["avro"]), "nested")
  files = {path.relative_to(root).as_posix(): str(path)
           for path in root.rglob("*") if path.is_file()}
  return str(root), files


def started(server, name, files, upload):
  if server is None:
    pytest.skip(f"{name} not installed (pip install -e '.[test]')")
  server.start()
  try:
    upload(server, BUCKET, files)
  except BaseException:
    server.stop()
    raise
  return server


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory, store):
  server = started(moto_server(str(tmp_path_factory.mktemp("moto"))), "moto_server",
                   store[1], s3_upload)
  yield server
  server.stop()


@pytest.fixture(scope="module")
def gcs_server(tmp_path_factory, store):
  server = started(gcs_emulator(str(tmp_path_factory.mktemp("gcs"))),
                   "gcp-storage-emulator", store[1], gcs_upload)
  yield server
  server.stop()


@pytest.fixture
def no_aws(monkeypatch, tmp_path):
  """No AWS credentials anywhere boto3 looks, and no wait on the EC2 metadata service."""
  for name in list(os.environ):
    if name.startswith("AWS_"):
      monkeypatch.delenv(name)
  missing = str(tmp_path / "missing")
  for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "BOTO_CONFIG"):
    monkeypatch.setenv(name, missing)
  monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def s3(s3_server, no_aws):
  """Beam flags for moto_server: the credentials come from the flags alone."""
  return [f"--s3_endpoint_url={s3_server.url}", "--s3_access_key_id=test",
          "--s3_secret_access_key=test", "--s3_region_name=us-east-1"]


@pytest.fixture
def gs(gcs_server, monkeypatch, tmp_path):
  use_gcs_emulator(monkeypatch, tmp_path, gcs_server.url)
  return []


@pytest.mark.servers
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_same_frames_as_local(request, run_pulse, store, scheme, case):
  flags = request.getfixturevalue(scheme)
  local = run_pulse(os.path.join(store[0], CASES[case]))
  remote = run_pulse(f"{scheme}://{BUCKET}/{CASES[case]}", *flags)
  assert local.frames and local.dead_letters == []
  assert remote.dead_letters == []
  assert remote.counter("files_read") == (2 if case == "glob" else 1)
  assert remote.counter("events_read") == local.counter("events_read")
  assert remote.frames == local.frames


@pytest.mark.servers
def test_pulse_run_reads_s3_with_flags(run_pulse, store, s3, tmp_path, capsys):
  sink = "sqlite://" + str(tmp_path / "cli.db")
  code = main(["run", f"--input=s3://{BUCKET}/{CASES['avro']}", f"--sink={sink}", *s3])
  assert code == 0, capsys.readouterr().err
  assert re.search(r"events read\s+1,639\n", capsys.readouterr().out)
  assert stored_frames(sink) == run_pulse(os.path.join(store[0], CASES["avro"])).frames


def test_pulse_run_without_aws_credentials_fails_fast(no_aws, tmp_path, capsys):
  began = time.monotonic()
  code = main(["run", f"--input=s3://{BUCKET}/{CASES['glob']}",
               "--sink=sqlite://" + str(tmp_path / "f.db")])
  assert code == 2
  assert time.monotonic() - began < 10
  err = capsys.readouterr().err
  assert "no AWS credentials" in err and "--s3_access_key_id" in err
  assert not os.path.exists(tmp_path / "f.db")
