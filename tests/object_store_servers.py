"""Local object stores for tests: moto_server (S3) and gcp-storage-emulator (GCS), each on
127.0.0.1 at a free port, waited for until it answers and stopped by PID."""
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from helpers import free_port, stop_process

HOST = "127.0.0.1"
START_TIMEOUT = 30
STOP_TIMEOUT = 10
# Our own requests go straight to 127.0.0.1 whatever *_proxy says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def executable(name):
  """The console script `name` beside this Python (the venv's bin), else on PATH."""
  beside = os.path.join(os.path.dirname(sys.executable), name)
  return beside if os.access(beside, os.X_OK) else shutil.which(name)


def http(method, url, data=None, content_type="application/json", timeout=5):
  request = urllib.request.Request(url, data=data, method=method,
                                   headers={"Content-Type": content_type})
  with _OPENER.open(request, timeout=timeout) as response:
    return response.read()


class Server:
  """One server process. `argv(port)` builds its command line; `probe` is the path
  that must answer over HTTP before the server counts as up."""
  def __init__(self, name, argv, probe, log_dir):
    self.name, self.argv, self.probe = name, argv, probe
    self.log_path = os.path.join(log_dir, name + ".log")
    self.process = None
    self.port = None

  @property
  def url(self):
    return f"http://{HOST}:{self.port}"

  def start(self, attempts=3):
    # The port is free when picked but could be taken before the server binds it:
    # a server that exits at once gets another port.
    for _ in range(attempts):
      self.port = free_port()
      with open(self.log_path, "ab") as log:
        self.process = subprocess.Popen(
            self.argv(self.port), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=os.path.dirname(self.log_path))
      if self._wait():
        return self
    raise RuntimeError(f"{self.name} exited at start {attempts} times:\n{self.log_tail()}")

  def _wait(self):
    """True once the server answers; False if it exited; RuntimeError on timeout."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
      if self.process.poll() is not None:
        return False
      try:
        http("GET", self.url + self.probe, timeout=1)
        return True
      except urllib.error.HTTPError:
        return True   # an error page still means it is serving
      except OSError:
        time.sleep(0.1)
    self.stop()
    raise RuntimeError(f"{self.name} did not answer on {self.url} within "
                       f"{START_TIMEOUT} s:\n{self.log_tail()}")

  def stop(self):
    if self.process is not None:
      stop_process(self.process, STOP_TIMEOUT)

  def log_tail(self, lines=20):
    try:
      with open(self.log_path, encoding="utf-8", errors="replace") as f:
        return "".join(f.readlines()[-lines:])
    except OSError:
      return ""


def moto_server(log_dir):
  """A stopped S3 server; its state lives in memory."""
  binary = executable("moto_server")
  return binary and Server(
      "moto_server", lambda port: [binary, "-H", HOST, "-p", str(port)], "/", log_dir)


def gcs_emulator(log_dir):
  """A stopped GCS server; --in-memory, so it writes nothing to disk."""
  binary = executable("gcp-storage-emulator")
  return binary and Server(
      "gcp-storage-emulator",
      lambda port: [binary, "start", "-H", HOST, "--port", str(port), "--in-memory"],
      "/storage/v1/b", log_dir)


def s3_client(server):
  import boto3   # beam[aws] brings it
  return boto3.client("s3", endpoint_url=server.url, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")


def s3_upload(server, bucket, files):
  """files: {object name: local path}."""
  client = s3_client(server)
  client.create_bucket(Bucket=bucket)
  for name, path in files.items():
    client.upload_file(path, bucket, name)


def gcs_upload(server, bucket, files):
  """Through the emulator's JSON API, so no client library reads the environment."""
  http("POST", server.url + "/storage/v1/b?project=test",
       json.dumps({"name": bucket}).encode())
  for name, path in files.items():
    with open(path, "rb") as f:
      http("POST", f"{server.url}/upload/storage/v1/b/{bucket}/o?uploadType=media&name="
           + urllib.parse.quote(name, safe=""), f.read(), "application/octet-stream")


# A token that never expires, so google-auth neither refreshes it nor looks further.
FAKE_ADC = {"type": "authorized_user", "client_id": "fake", "client_secret": "fake",
            "refresh_token": "fake", "token": "fake", "expiry": "2999-01-01T00:00:00Z"}


def use_gcs_emulator(monkeypatch, tmp_path, url):
  """Point Beam's GCS client at the emulator (Beam has no GCS endpoint flag). Without
  credentials Beam retries google.auth.default() for ~25 s before going anonymous
  (--no_auth and NO_GCE_CHECK do not shorten that), so hand it a fake token. Beam keeps
  the first credentials it finds for the whole process: look them up afresh here, and
  forget the fake ones afterwards (monkeypatch undoes all of it)."""
  import json
  from apache_beam.internal.gcp import auth
  adc = tmp_path / "adc.json"
  adc.write_text(json.dumps(FAKE_ADC))
  monkeypatch.setenv("STORAGE_EMULATOR_HOST", url)
  monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
  monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "test")
  monkeypatch.setattr(auth._Credentials, "_credentials_init", False)
  monkeypatch.setattr(auth._Credentials, "_credentials", None)
