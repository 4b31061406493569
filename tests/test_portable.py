"""The batch pipeline through PortableRunner against Beam's own job service (a separate
process, on 127.0.0.1), its SDK worker in this process (LOOPBACK): the pipeline crosses
the Runner API as a proto, every DoFn is pickled and every element between stages is
encoded by its coder, as on Flink or Dataflow. Same frames as the in-process run."""
import os
import re
import subprocess
import sys
import time

import pytest

from pulse.cli import main

from helpers import HOURS, stop_process
from object_store_servers import HOST

START_TIMEOUT = 60
pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def job_endpoint(tmp_path_factory):
  """localhost:PORT of a local_job_service_main, stopped by PID afterwards."""
  folder = tmp_path_factory.mktemp("job_service")
  port_file = folder / "port"
  with open(folder / "job_service.log", "wb") as log:
    process = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
         "--port=0", f"--port_file={port_file}", f"--staging_dir={folder / 'staging'}"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
  try:
    deadline = time.monotonic() + START_TIMEOUT
    while not port_file.exists():       # written (by rename) once the server listens
      if process.poll() is not None or time.monotonic() > deadline:
        pytest.fail("the job service did not start:\n"
                    + (folder / "job_service.log").read_text(errors="replace")[-2000:])
      time.sleep(0.1)
    yield f"{HOST}:{port_file.read_text().strip()}"
  finally:
    stop_process(process)


def portable(endpoint):
  return ["--runner=PortableRunner", f"--job_endpoint={endpoint}",
          "--environment_type=LOOPBACK"]


def test_portable_run_gives_the_frames_of_the_direct_run(job_endpoint, run_pulse):
  remote = run_pulse(HOURS["2015"], *portable(job_endpoint))
  assert hasattr(remote.pipeline_result, "_job_service")   # really went through it
  local = run_pulse(HOURS["2015"])
  assert len(remote.frames) > 50
  assert remote.frames == local.frames
  key = lambda e: (e["id"], e["src"], e["dst"])
  assert sorted(remote.edges, key=key) == sorted(local.edges, key=key)
  assert remote.dead_letters == local.dead_letters
  assert remote.counter("events_read") == local.counter("events_read") == 8273


def test_pulse_run_summary_on_the_portable_runner(job_endpoint, tmp_path, capsys):
  sink = "sqlite://" + str(tmp_path / "frames.db")
  code = main(["run", f"--input={HOURS['2011']}", f"--sink={sink}",
               *portable(job_endpoint)])
  assert code == 0, capsys.readouterr().err
  out = capsys.readouterr().out
  assert re.search(r"events read\s+1,639\n", out)
  assert re.search(r"frames written\s+[1-9]", out)
  assert os.path.exists(tmp_path / "frames.db")
