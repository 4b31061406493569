#!/usr/bin/env bash
# The pipeline on Apache Flink through Beam's FlinkRunner (Flink job server jar, portable).
#
#   ./run_flink.sh --flink_master HOST:PORT [flags]   submit to a running Flink cluster
#   ./run_flink.sh --local [flags]                    start a local cluster (scripts/flink.sh)
#                                                     in a temp dir, run, stop it afterwards
#
# Defaults, each replaced by the flag given: --input data/gharchive-2015-01-01-12.json.gz,
# --sink sqlite://$PWD/out/flink-frames.db, --dead_letter_output out/flink-dead-letter.jsonl,
# --flink_job_server_jar $(scripts/flink.sh jobserver-jar), --flink_version of that jar.
# Python workers run without Docker: unless --environment_type is given, this script starts
# Beam's worker pool on 127.0.0.1 (EXTERNAL environment; each worker is a process of this
# repo's .venv) and stops it afterwards. --parallelism N also sets --sdk_worker_parallelism N
# (N worker processes per TaskManager) unless that is given. Any `pulse run` or Beam flag may
# follow. Nothing is downloaded at run time: `scripts/flink.sh fetch` fetches once.
set -euo pipefail
cd "$(dirname "$0")"
source ./dev_env.sh
mkdir -p out

local_cluster=0
args=()
for a in "$@"; do
  if [[ "$a" == --local ]]; then local_cluster=1; else args+=("$a"); fi
done
has() { local f; for f in "${args[@]}"; do [[ "$f" == "$1" || "$f" == "$1="* ]] && return 0; done; return 1; }
value_of() {  # the value of flag $1 (--f=v or --f v), or nothing
  local i
  for (( i = 0; i < ${#args[@]}; i++ )); do
    [[ "${args[$i]}" == "$1="* ]] && { echo "${args[$i]#*=}"; return; }
    [[ "${args[$i]}" == "$1" ]] && { echo "${args[$((i + 1))]:-}"; return; }
  done
}
if has --help || has -h; then
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

if (( local_cluster )) && has --flink_master; then
  echo "run_flink.sh: --local starts its own cluster; drop --flink_master" >&2; exit 2
fi
if (( ! local_cluster )) && ! has --flink_master; then
  echo "run_flink.sh: pass --flink_master HOST:PORT (a Flink REST address) or --local" >&2; exit 2
fi

defaults=(--runner FlinkRunner --setup_file ./setup.py)
if ! has --flink_job_server_jar; then
  jar="$(bash scripts/flink.sh jobserver-jar)" || {
    echo "run_flink.sh: no Beam Flink job server jar; run scripts/flink.sh fetch or pass --flink_job_server_jar PATH" >&2
    exit 2; }
  defaults+=(--flink_job_server_jar "$jar")
else
  jar="$(value_of --flink_job_server_jar)"
fi
# beam-runners-flink-1.20-job-server-2.77.0.jar -> 1.20 (the jar must match the cluster).
if ! has --flink_version && [[ "$(basename "$jar")" =~ ^beam-runners-flink-([0-9]+\.[0-9]+)-job-server ]]; then
  defaults+=(--flink_version "${BASH_REMATCH[1]}")
fi
has --input || defaults+=(--input data/gharchive-2015-01-01-12.json.gz)
# Absolute: the sink is opened by worker processes, whose working directory may differ.
has --sink || defaults+=(--sink "sqlite://$PWD/out/flink-frames.db")
has --dead_letter_output || defaults+=(--dead_letter_output "$PWD/out/flink-dead-letter.jsonl")
parallelism="$(value_of --parallelism)"
if [[ -n "$parallelism" ]] && ! has --sdk_worker_parallelism; then
  defaults+=(--sdk_worker_parallelism "$parallelism")
fi

cluster_dir=""
pool_pid=""
cleanup() {
  if [[ -n "$pool_pid" ]]; then   # the pool and its worker processes: its own group
    kill -TERM -- "-$pool_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pool_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pool_pid" 2>/dev/null || true
  fi
  if [[ -n "$cluster_dir" ]]; then
    bash scripts/flink.sh stop "$cluster_dir" >&2 || true
    rm -rf "$cluster_dir"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if (( local_cluster )); then
  cluster_dir="$(mktemp -d "${TMPDIR:-/tmp}/pulse-flink.XXXXXX")"
  # One TaskManager; a job needs as many slots as its highest operator parallelism.
  if [[ "$parallelism" =~ ^[0-9]+$ ]] && (( parallelism > ${FLINK_SLOTS:-2} )); then
    export FLINK_SLOTS="$parallelism"
  fi
  master="$(bash scripts/flink.sh start "$cluster_dir")"
  defaults+=(--flink_master "$master")
fi

if ! has --environment_type; then
  port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  # Beam's worker_pool_main binds [::]; this is the same servicer bound to 127.0.0.1 only.
  # use_process: one `python` process (this .venv's, first on PATH) per requested worker.
  setsid python -c '
import sys, grpc
from apache_beam.portability.api import beam_fn_api_pb2_grpc
from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer
from apache_beam.utils import thread_pool_executor
server = grpc.server(thread_pool_executor.shared_unbounded_instance())
server.add_insecure_port("127.0.0.1:" + sys.argv[1])
beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(
    BeamFnExternalWorkerPoolServicer(use_process=True), server)
server.start()
server.wait_for_termination()' "$port" </dev/null >>out/flink-worker-pool.log 2>&1 &
  pool_pid=$!
  for _ in $(seq 100); do
    python -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' \
      "$port" 2>/dev/null && break
    kill -0 "$pool_pid" 2>/dev/null || { cat out/flink-worker-pool.log >&2; exit 1; }
    sleep 0.2
  done
  defaults+=(--environment_type EXTERNAL --environment_config "127.0.0.1:$port")
fi

pulse run "${defaults[@]}" "${args[@]}"
