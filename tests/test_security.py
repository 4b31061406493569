"""Security: the UI listens on 127.0.0.1 and takes sockets from its own page only, data
never becomes markup, and credentials (S3 keys from flags or the environment, RethinkDB
passwords, any --*secret* flag) reach no log line, frame, dead letter or error message."""
import glob
import io
import ipaddress
import json
import logging
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from helpers import HOURS, REPO, free_port, read_json_lines, stored_frames
from object_store_servers import moto_server, s3_upload
from pulse.io.stores import WriteFrames, open_store
from pulse.io.stores.rethinkdb_store import PASSWORD_ENV
from pulse.cli import main
from pulse.redaction import Redact, secrets_in
from rethinkdb_double import RethinkDBDouble
from test_ui import XSS, _pulse_ui

# Distinct, so a hit names the path it leaked by.
S3_FLAG, S3_ENV, TYPO, RDB_URI, RDB_ENV = (
    f"Zq7-{name}-k4Xw9" for name in ("s3flag", "s3env", "typo", "rdburi", "rdbenv"))
SECRETS = (S3_FLAG, S3_ENV, TYPO, RDB_URI, RDB_ENV)
BUCKET = "pulse"
# pulse run with every logger at DEBUG: what Beam, boto and the drivers say, all of it.
LOGGED_MAIN = ("import logging, sys; logging.basicConfig(level=logging.DEBUG); "
               "from pulse.cli import main; sys.exit(main(sys.argv[1:]))")
HTML_SINKS = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|"
                        r"\beval\(|new Function|srcdoc|createContextualFragment")


def leaked(*texts):
  return [s for s in SECRETS for t in texts if s in t]


def pulse_logged(args, env):
  return subprocess.run([sys.executable, "-c", LOGGED_MAIN, *args], capture_output=True,
                        text=True, env=env, cwd=REPO, timeout=120)


def quiet_env(tmp_path, **extra):
  """This environment without AWS credentials, plus extra."""
  env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
  missing = str(tmp_path / "missing")
  env.update(AWS_CONFIG_FILE=missing, AWS_SHARED_CREDENTIALS_FILE=missing,
             AWS_EC2_METADATA_DISABLED="true", **extra)
  return env


@pytest.fixture(scope="module")
def s3_bucket(tmp_path_factory):
  """moto_server holding the 2011 hour and a file of junk lines (for dead letters)."""
  folder = tmp_path_factory.mktemp("s3")
  server = moto_server(str(folder))
  if server is None:
    pytest.skip("moto_server not installed (pip install -e '.[test]')")
  junk = folder / "junk.json"
  junk.write_text('not json\n{"type": "PushEvent"}\n')
  server.start()
  try:
    s3_upload(server, BUCKET, {"2011.json.gz": HOURS["2011"], "junk.json": str(junk)})
    yield server
  finally:
    server.stop()


@pytest.fixture
def double():
  with RethinkDBDouble(users={"admin": "", "pulse": RDB_URI, "envuser": RDB_ENV}) as d:
    yield d


# ---- credentials ---------------------------------------------------------------------

@pytest.mark.servers
def test_pulse_run_keeps_secrets_out_of_logs_frames_and_dead_letters(s3_bucket, double,
                                                                      tmp_path):
  sink = f"rethinkdb://pulse:{RDB_URI}@{double.address}/pulse/frames"
  dead = tmp_path / "dead.jsonl"
  done = pulse_logged(
      ["run", f"--input=s3://{BUCKET}/2011.json.gz,s3://{BUCKET}/junk.json",
       f"--sink={sink}", f"--dead_letter_output={dead}", "--window_size=300",
       f"--s3_endpoint_url={s3_bucket.url}", "--s3_access_key_id=test",
       f"--s3_secret_access_key={S3_FLAG}", "--s3_region_name=us-east-1"],
      quiet_env(tmp_path, AWS_SECRET_ACCESS_KEY=S3_ENV, **{PASSWORD_ENV: RDB_ENV}))
  assert done.returncode == 0, done.stderr[-3000:]
  logs = done.stdout + done.stderr
  assert "DEBUG" in logs
  frames = stored_frames(sink)
  letters = read_json_lines(str(dead))
  assert len(frames) > 20 and len(letters) == 2
  assert not leaked(logs, json.dumps(frames), dead.read_text())


def test_a_misspelt_secret_flag_is_refused_without_showing_its_value(tmp_path):
  """Beam would log a flag it cannot parse with its value, and run on; pulse refuses it
  by name alone."""
  done = pulse_logged(["run", f"--input={HOURS['2011']}", f"--sink=sqlite://{tmp_path}/f.db",
                       "--s3_secret_key", TYPO], quiet_env(tmp_path))
  assert done.returncode == 2
  assert done.stderr.strip().splitlines()[-1] == (
      "pulse run: error: unknown flag --s3_secret_key: did you mean --s3_secret_access_key?")
  assert not leaked(done.stdout, done.stderr)


@pytest.mark.servers
def test_a_failing_run_shows_no_password(double, tmp_path):
  double.stop()                                    # the store is down for the whole run
  done = pulse_logged(
      ["run", f"--input={HOURS['2011']}", "--sink=rethinkdb://envuser@"
       f"{double.address}/pulse/frames?retry_s=0.5"],
      quiet_env(tmp_path, **{PASSWORD_ENV: RDB_ENV}))
  assert done.returncode != 0
  assert f"RethinkDB at {double.address}: creating the database" in done.stderr
  assert not leaked(done.stdout, done.stderr)


def test_errors_about_a_sink_never_show_its_password(capsys):
  for sink in (f"rethinkd://pulse:{RDB_URI}@127.0.0.1:1/pulse/frames",   # misspelt
               f"rethinkdb://pulse:{RDB_URI}@127.0.0.1:1/pulse/fr-ames",
               f"rethinkdb://pulse:{RDB_URI}@127.0.0.1:1/pulse/frames?retry=1"):
    assert main(["run", f"--input={HOURS['2011']}", f"--sink={sink}"]) == 2
    err = capsys.readouterr().err
    assert "pulse:***@127.0.0.1:1" in err and not leaked(err)
    with pytest.raises(ValueError) as error:       # and built in-process, without the CLI
      WriteFrames(sink)
    assert "pulse:***@127.0.0.1:1" in str(error.value) and not leaked(str(error.value))


def test_a_kafka_uri_with_credentials_is_refused_without_showing_them(capsys):
  uri = f"kafka://pulse:{RDB_URI}@127.0.0.1:9/events"
  assert main(["run", f"--input={uri}", "--kafka_stop=end"]) == 2
  err = capsys.readouterr().err
  assert "credentials in the URI are not supported" in err and not leaked(err)


def test_what_beam_logs_of_the_options_is_redacted(monkeypatch):
  monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_ENV)
  argv = [f"--s3_secret_access_key={S3_FLAG}", "--my_password", TYPO,
          f"--sink=rethinkdb://pulse:{RDB_URI}@h:1/d/t", "--s3_access_key_id=AKIDPUBLIC"]
  assert set(secrets_in(argv)) == {S3_FLAG, S3_ENV, TYPO, RDB_URI}
  out = io.StringIO()
  handler = logging.StreamHandler(out)
  handler.addFilter(Redact(secrets_in(argv)))
  log = logging.getLogger("apache_beam.runners.dataflow.internal.apiclient")
  log.addHandler(handler)
  try:   # as the Dataflow runner logs a job's options, and an error's traceback
    log.warning("sdk_pipeline_options: %s", PipelineOptions(argv).get_all_options(
        retain_unknown_options=True))
    try:
      raise RuntimeError(f"refused {os.environ['AWS_SECRET_ACCESS_KEY']}")
    except RuntimeError:
      log.exception("failed")
  finally:
    log.removeHandler(handler)
  text = out.getvalue()
  assert "AKIDPUBLIC" in text and "'s3_secret_access_key': '***'" in text
  assert "refused ***" in text and not leaked(text)


# ---- the UI ----------------------------------------------------------------------------

def listening(port):
  """The addresses of TCP sockets listening on port (Linux /proc/net/tcp and tcp6)."""
  found = []
  for table in ("tcp", "tcp6"):
    with open(f"/proc/net/{table}") as f:
      for row in list(f)[1:]:
        local, state = row.split()[1], row.split()[3]
        address, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:     # 0A: LISTEN
          raw = bytes.fromhex(address)                      # little-endian 32-bit words
          found.append(str(ipaddress.ip_address(
              b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4)))))
  return found


def socket_handshake(url, origin):
  """The HTTP status of a Socket.IO handshake sent with an Origin header."""
  request = urllib.request.Request(url + "socket.io/?EIO=4&transport=polling",
                                   headers={"Origin": origin})
  try:
    with urllib.request.urlopen(request, timeout=5) as response:
      return response.status
  except urllib.error.HTTPError as error:
    return error.code


@pytest.mark.servers
def test_pulse_ui_listens_on_loopback_and_takes_sockets_from_its_page_only(tmp_path):
  sink = f"sqlite://{tmp_path}/f.db"
  open_store(sink).close()
  port = free_port()
  with _pulse_ui(sink, port, tmp_path / "ui.log") as url:     # no --host given
    assert listening(port) == ["127.0.0.1"]
    assert socket_handshake(url, url.rstrip("/")) == 200
    assert socket_handshake(url, "http://evil.example") == 400


def test_ui_server_renders_no_data_as_markup(tmp_path, caplog):
  from pulse.ui.server import create_app
  frame = {"id": "0-600000", "window_start": 0, "window_end": 600_000, "edges": 2,
           "vertices": 3, "components": 1, "size_histogram": {"3": 1},
           "clusters": [{"id": "a", "size": 3, "hub": XSS, "members": ["a", "b", XSS],
                         "links": [{"src": XSS, "dst": "a"}, {"src": XSS, "dst": "b"}]}]}
  sink = f"sqlite://{tmp_path}/f.db"
  store = open_store(sink)
  store.write([frame])
  store.close()
  app, _, start = create_app(sink)
  start()
  http = app.test_client()
  page = http.get("/")
  assert page.mimetype == "text/html" and XSS.encode() not in page.data
  for path in ("/api/frames", "/api/frame?id=0-600000"):
    response = http.get(path)
    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
  assert http.get("/api/frame?id=0-600000").get_json() == frame
  missing = http.get("/api/frame?id=" + urllib.parse.quote(XSS))
  assert missing.status_code == 404 and XSS.encode() not in missing.data
  assert http.get("/socket.io/?EIO=4&transport=polling",
                  headers={"Origin": "http://evil.example"}).status_code == 400
  # The page's own code (every ui/static/*.js; vendor/ is third-party) puts data in as text only.
  scripts = sorted(glob.glob(os.path.join(REPO, "ui", "static", "*.js")))
  assert {os.path.basename(p) for p in scripts} >= {"app.js", "graph.js"}
  for path in scripts:
    with open(path, encoding="utf-8") as f:
      assert not HTML_SINKS.findall(f.read()), path


def test_ui_never_shows_a_sink_password(double, caplog):
  from pulse.ui.server import create_app
  caplog.set_level(logging.DEBUG)
  sink = f"rethinkdb://pulse:{RDB_URI}@{double.address}/pulse/frames"
  app, _, start = create_app(sink)
  start()
  listed = app.test_client().get("/api/frames").get_json()
  assert listed["sink"] == f"rethinkdb://pulse:***@{double.address}/pulse/frames"
  assert not leaked(json.dumps(listed), caplog.text)
