#!/usr/bin/env bash
# A local Apache Flink session cluster (one JobManager, one TaskManager) for development and
# tests, from the Flink distribution that PyPI's apache-flink package ships, plus Beam's Flink
# job server jar from Maven Central. See `scripts/flink.sh --help`.
set -euo pipefail

# Flink 1.20: the LTS line, and one of the versions Beam 2.77 publishes a job server for
# (PUBLISHED_FLINK_VERSIONS 1.19..2.2); it runs on Java 17. The PyPI packages carry the whole
# distribution (bin/, conf/, lib/flink-dist): apache-flink (scripts) + apache-flink-libraries
# (jars). They are installed --no-deps: only the distribution is used, never pyflink itself,
# so its older apache-beam pin does not matter.
FLINK_VERSION="${FLINK_VERSION:-1.20.5}"
FLINK_MINOR="${FLINK_VERSION%.*}"
DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

SCRIPT_NAME=flink.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
FLINK_ROOT="$CACHE_ROOT/flink/$FLINK_VERSION"
VENV="$FLINK_ROOT/venv"
HOST=127.0.0.1
START_TIMEOUT="${FLINK_START_TIMEOUT:-90}"
STOP_TIMEOUT="${FLINK_STOP_TIMEOUT:-30}"

usage() {
  cat <<EOF
Usage: scripts/flink.sh COMMAND [DIR]

A local Apache Flink $FLINK_VERSION session cluster on $HOST (JobManager + one TaskManager
with 2 slots), for Beam's FlinkRunner.

Commands:
  fetch          Install the Flink distribution (PyPI apache-flink==$FLINK_VERSION, no deps)
                 into a venv under $FLINK_ROOT and fetch Beam's job server
                 (org.apache.beam:beam-runners-flink-$FLINK_MINOR-job-server:<beam version>) with
                 mvn into $CACHE_ROOT/flink/jobserver/. Prints FLINK_HOME and the jar.
                 Exits 1 if either cannot be had (the distribution is kept).
  start DIR      Start a cluster whose conf, logs and pids live in DIR, on free ports; waits
                 until REST answers and a TaskManager with 2 slots is registered, then prints
                 the master address (127.0.0.1:RESTPORT). If DIR's cluster runs, prints it.
  stop DIR       Stop DIR's cluster (TERM, then KILL after ${STOP_TIMEOUT}s). Idempotent.
  status DIR     Print whether DIR's cluster runs (exit 0) or not (exit 3).
  flink-home     Print FLINK_HOME (exit 1 if not fetched).
  jobserver-jar  Print the job server jar's path (exit 1 if not fetched).
  --help         This text.

Environment:
  PULSE_CACHE            cache root (default \$HOME/.cache/network-pulse)
  FLINK_VERSION          apache-flink version from PyPI (default 1.20.5)
  FLINK_JOB_SERVER_JAR   a job server jar to use instead of the fetched one (e.g. one built
                         from Beam's source: ./gradlew :runners:flink:$FLINK_MINOR:job-server:shadowJar)
  FLINK_TM_PROCESS_SIZE  taskmanager.memory.process.size (default 1536m)
  FLINK_JM_PROCESS_SIZE  jobmanager.memory.process.size (default 768m)
  FLINK_SLOTS            taskmanager.numberOfTaskSlots (default 2)
  FLINK_START_TIMEOUT    seconds to wait for the cluster (default 90)
  FLINK_STOP_TIMEOUT     seconds to wait after TERM before KILL (default 30)
  FLINK_WATCH_PID        if set, the cluster is killed once this process has gone
  PULSE_PYTHON           python with apache_beam and PyYAML (default: the repo's .venv)
  JAVA_HOME              the java to use (default: java on PATH); 11 or 17
EOF
}



flink_home() {  # the distribution inside the venv's site-packages
  local d
  d="$(ls -d "$VENV"/lib/python3*/site-packages/pyflink 2>/dev/null | head -n 1)"
  [[ -n "$d" && -f "$VENV/.complete" ]] || return 1
  echo "$d"
}


jar_path() {  # where the fetched jar lives (whether or not it is there)
  local beam; beam="$(beam_release)"
  echo "$CACHE_ROOT/flink/jobserver/$beam/beam-runners-flink-$FLINK_MINOR-job-server-$beam.jar"
}

cmd_jobserver_jar() {
  if [[ -n "${FLINK_JOB_SERVER_JAR:-}" ]]; then
    [[ -f "$FLINK_JOB_SERVER_JAR" ]] || die "FLINK_JOB_SERVER_JAR=$FLINK_JOB_SERVER_JAR is no file"
    echo "$FLINK_JOB_SERVER_JAR"; return 0
  fi
  local jar; jar="$(jar_path)"
  [[ -f "$jar" ]] || die "no job server jar at $jar (run scripts/flink.sh fetch, or set FLINK_JOB_SERVER_JAR)"
  echo "$jar"
}

# ---------------------------------------------------------------------------------- fetch
fetch_distribution() {
  if flink_home >/dev/null; then return 0; fi
  mkdir -p "$FLINK_ROOT"
  exec 9>"$FLINK_ROOT/.lock"   # one install at a time (parallel test workers share the cache)
  flock 9
  if ! flink_home >/dev/null; then
    echo "flink $FLINK_VERSION: installing apache-flink (no deps, ~230 MB) into $VENV" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV" || die "python3 -m venv failed"
    "$VENV/bin/pip" install -q --no-deps "apache-flink==$FLINK_VERSION" \
        "apache-flink-libraries==$FLINK_VERSION" >&2 || die "pip could not install apache-flink==$FLINK_VERSION"
    local home; home="$(ls -d "$VENV"/lib/python3*/site-packages/pyflink)"
    [[ -f "$home/lib/flink-dist-$FLINK_VERSION.jar" ]] || die "no flink-dist jar in $home/lib"
    chmod +x "$home"/bin/*.sh "$home/bin/flink"   # the wheel drops the exec bits
    touch "$VENV/.complete"
  fi
  exec 9>&-
}

fetch_jar() {
  [[ -n "${FLINK_JOB_SERVER_JAR:-}" ]] && { cmd_jobserver_jar >/dev/null; return 0; }
  local jar beam; jar="$(jar_path)"; beam="$(beam_release)"
  [[ -f "$jar" ]] && return 0
  [[ "$beam" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "apache_beam $beam is not a release: no jar on Maven Central"
  command -v mvn >/dev/null || die "mvn not found (needed to fetch Beam's Flink job server)"
  local artifact="org.apache.beam:beam-runners-flink-$FLINK_MINOR-job-server:$beam:jar"
  echo "flink: fetching $artifact with mvn" >&2
  mkdir -p "$(dirname "$jar")"
  # -U: a 404 from an earlier try is cached by Maven for a day; ask again.
  if ! mvn -B -U -q -Dstyle.color=never "$DEPENDENCY_PLUGIN:copy" -Dartifact="$artifact" \
         -DoutputDirectory="$(dirname "$jar")" >"$(dirname "$jar")/mvn.log" 2>&1; then
    grep -m 1 -E "ERROR" "$(dirname "$jar")/mvn.log" | sed "s/\x1b\[[0-9;]*m//g" >&2 || tail -n 20 "$(dirname "$jar")/mvn.log" >&2
    die "mvn could not fetch $artifact (log: $(dirname "$jar")/mvn.log); set FLINK_JOB_SERVER_JAR to a jar obtained otherwise"
  fi
  [[ -f "$jar" ]] || die "mvn finished but $jar is missing"
}

cmd_fetch() {
  local started; started=$(date +%s)
  fetch_distribution
  echo "FLINK_HOME=$(flink_home)"
  fetch_jar
  echo "FLINK_JOB_SERVER_JAR=$(cmd_jobserver_jar)"
  echo "flink: fetched in $(( $(date +%s) - started ))s" >&2
}

# ---------------------------------------------------------------------------------- helpers
java_home() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then echo "$JAVA_HOME"; return; fi
  local java; java="$(command -v java)" || die "java not found (Flink $FLINK_VERSION needs 11 or 17)"
  dirname "$(dirname "$(readlink -f "$java")")"
}

pid_of() {  # the PID in DIR/ROLE.pid if it is a Flink JVM of DIR, else nothing
  local dir="$1" role="$2" pid
  [[ -f "$dir/$role.pid" ]] || return 1
  pid="$(cat "$dir/$role.pid")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  # Guard against a recycled PID: it must be a JVM reading DIR's conf.
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- "--configDir $dir/conf" || return 1
  echo "$pid"
}

free_ports() {  # N distinct free TCP ports on $HOST
  "$(python_bin)" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

overview() {  # GET /overview as "taskmanagers slots" or nothing
  "$(python_bin)" - "$1" <<'EOF' 2>/dev/null
import json, sys, urllib.request
with urllib.request.urlopen(f"http://{sys.argv[1]}/overview", timeout=2) as r:
    o = json.load(r)
print(o["taskmanagers"], o["slots-total"])
EOF
}

write_config() {  # the shipped config.yaml (for its Java 17 --add-opens) with our settings
  local dir="$1" home="$2" rest="$3" rpc="$4" tmrpc="$5" blob="$6" data="$7"
  rm -rf "$dir/conf"
  cp -r "$home/conf" "$dir/conf"
  "$(python_bin)" - "$dir/conf/config.yaml" <<EOF
import json, sys, yaml
path = sys.argv[1]
with open(path) as f:
    nested = yaml.safe_load(f) or {}

def flat(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from flat(v, prefix + k + ".")
        else:
            yield prefix + k, v

conf = dict(flat(nested))
conf.update({
    "jobmanager.bind-host": "$HOST", "jobmanager.rpc.address": "$HOST",
    "jobmanager.rpc.port": $rpc, "rest.address": "$HOST", "rest.bind-address": "$HOST",
    "rest.port": $rest, "taskmanager.bind-host": "$HOST", "taskmanager.host": "$HOST",
    "taskmanager.rpc.port": $tmrpc, "blob.server.port": $blob, "taskmanager.data.port": $data,
    "taskmanager.numberOfTaskSlots": ${FLINK_SLOTS:-2},
    "parallelism.default": 1,
    "jobmanager.memory.process.size": "${FLINK_JM_PROCESS_SIZE:-768m}",
    "taskmanager.memory.process.size": "${FLINK_TM_PROCESS_SIZE:-1536m}",
    "io.tmp.dirs": "$dir/tmp",
    "web.tmpdir": "$dir/tmp",
    # A failed Beam job fails at once instead of restarting forever.
    "restart-strategy.type": "none",
})
with open(path, "w") as f:
    f.write("# Generated by scripts/flink.sh from the distribution's config.yaml.\n")
    for k, v in conf.items():
        f.write(f"{k}: {json.dumps(v) if isinstance(v, str) else v}\n")
EOF
}

log_tail() {
  local f
  for f in "$1"/log/*.log "$1"/log/*.out; do
    [[ -s "$f" ]] || continue
    echo "----- tail of $f" >&2
    tail -n 30 "$f" >&2
  done
}

launch() {  # ROLE SCRIPT: one Flink JVM in the foreground of its own session
  local dir="$1" role="$2" script="$3" home="$4" pid
  FLINK_CONF_DIR="$dir/conf" FLINK_LOG_DIR="$dir/log" FLINK_PID_DIR="$dir/run" \
    JAVA_HOME="$(java_home)" setsid "$home/bin/$script" start-foreground \
    </dev/null >>"$dir/log/$role.out" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/$role.pid"
}

# ---------------------------------------------------------------------------------- start
cmd_start() {
  local dir="${1:-}"
  [[ -n "$dir" ]] || die "usage: flink.sh start DIR"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if pid_of "$dir" jobmanager >/dev/null && pid_of "$dir" taskmanager >/dev/null; then
    echo "flink.sh: cluster of $dir already runs" >&2
    cat "$dir/master"
    return 0
  fi
  cmd_stop "$dir" >/dev/null   # half a cluster: start afresh
  fetch_distribution
  local home; home="$(flink_home)"
  local started; started=$(date +%s)
  local attempt rest rpc tmrpc blob data master deadline o
  for attempt in 1 2 3; do
    read -r rest rpc tmrpc blob data <<<"$(free_ports 5)" || true
    [[ -n "${data:-}" ]] || die "could not pick free ports on $HOST"
    master="$HOST:$rest"
    rm -rf "$dir/log" "$dir/run" "$dir/tmp" "$dir/master"
    mkdir -p "$dir/log" "$dir/run" "$dir/tmp"
    write_config "$dir" "$home" "$rest" "$rpc" "$tmrpc" "$blob" "$data"
    echo "$master" >"$dir/master"
    launch "$dir" jobmanager jobmanager.sh "$home"
    launch "$dir" taskmanager taskmanager.sh "$home"
    deadline=$(( started + START_TIMEOUT ))
    while :; do
      local role
      for role in jobmanager taskmanager; do
        if ! kill -0 "$(cat "$dir/$role.pid")" 2>/dev/null; then
          if grep -qi "address already in use" "$dir"/log/* && [[ $attempt -lt 3 ]]; then
            echo "flink.sh: port taken, retrying with new ports" >&2
            cmd_stop "$dir" >/dev/null
            continue 3
          fi
          log_tail "$dir"
          cmd_stop "$dir" >&2
          die "the $role exited during start (logs in $dir/log)"
        fi
      done
      o="$(overview "$master" || true)"
      if [[ "$o" == "1 ${FLINK_SLOTS:-2}" ]]; then break 2; fi
      if (( $(date +%s) >= deadline )); then
        log_tail "$dir"
        cmd_stop "$dir" >&2
        die "no TaskManager with ${FLINK_SLOTS:-2} slots on $master within ${START_TIMEOUT}s (overview: ${o:-no answer})"
      fi
      sleep 0.5
    done
  done
  if [[ -n "${FLINK_WATCH_PID:-}" ]]; then
    # Kill the cluster once the watched process (e.g. pytest) is gone without stopping it.
    # shellcheck disable=SC2016
    setsid bash -c '
      while kill -0 "$1" 2>/dev/null; do sleep 2; done
      kill -TERM "$2" "$3" 2>/dev/null
      sleep 20; kill -KILL "$2" "$3" 2>/dev/null' flink-watch "$FLINK_WATCH_PID" \
      "$(cat "$dir/jobmanager.pid")" "$(cat "$dir/taskmanager.pid")" </dev/null >/dev/null 2>&1 &
    echo $! >"$dir/watch.pid"
  fi
  echo "flink.sh: cluster up on $master in $(( $(date +%s) - started ))s" \
       "(jobmanager pid $(cat "$dir/jobmanager.pid"), taskmanager pid $(cat "$dir/taskmanager.pid"))" >&2
  echo "$master"
}

# ---------------------------------------------------------------------------------- stop
cmd_stop() {
  local dir="${1:-}"
  [[ -n "$dir" ]] || die "usage: flink.sh stop DIR"
  [[ -d "$dir" ]] || { echo "flink.sh: not running ($dir does not exist)"; return 0; }
  dir="$(cd "$dir" && pwd)"
  if [[ -f "$dir/watch.pid" ]]; then
    local wpid; wpid="$(cat "$dir/watch.pid")"
    if [[ "$wpid" =~ ^[0-9]+$ ]] && tr '\0' ' ' 2>/dev/null <"/proc/$wpid/cmdline" | grep -q flink-watch; then
      kill -TERM -- "-$wpid" 2>/dev/null || true
    fi
    rm -f "$dir/watch.pid"
  fi
  local role pid pids=()
  for role in taskmanager jobmanager; do
    if pid="$(pid_of "$dir" "$role")"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
    rm -f "$dir/$role.pid"
  done
  [[ ${#pids[@]} -gt 0 ]] || { echo "flink.sh: not running"; return 0; }
  local waited=0
  while kill -0 "${pids[@]}" 2>/dev/null && (( waited < STOP_TIMEOUT * 10 )); do
    # kill -0 with several PIDs succeeds while any lives
    sleep 0.1; waited=$(( waited + 1 ))
  done
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "flink.sh: $pid still up after ${STOP_TIMEOUT}s, killing" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  echo "flink.sh: stopped ${pids[*]}"
}

cmd_status() {
  local dir="${1:-}"
  [[ -n "$dir" ]] || die "usage: flink.sh status DIR"
  [[ -d "$dir" ]] || { echo "not running"; return 3; }
  dir="$(cd "$dir" && pwd)"
  local jm tm
  jm="$(pid_of "$dir" jobmanager || true)"; tm="$(pid_of "$dir" taskmanager || true)"
  if [[ -n "$jm" && -n "$tm" ]]; then
    echo "running: jobmanager pid $jm, taskmanager pid $tm, master $(cat "$dir/master")" \
         "(taskmanagers, slots: $(overview "$(cat "$dir/master")" || echo '?'))"
  else
    echo "not running${jm:+ (jobmanager pid $jm only)}${tm:+ (taskmanager pid $tm only)}"
    return 3
  fi
}

case "${1:-}" in
  fetch)         cmd_fetch ;;
  start)         cmd_start "${2:-}" ;;
  stop)          cmd_stop "${2:-}" ;;
  status)        cmd_status "${2:-}" ;;
  flink-home)    flink_home || die "Flink $FLINK_VERSION not fetched (scripts/flink.sh fetch)" ;;
  jobserver-jar) cmd_jobserver_jar ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
