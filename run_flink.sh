#!/usr/bin/env bash
# Submits the pipeline to a Flink cluster through Beam's Flink job server (issue: scale-out).
#   ./run_flink.sh --flink_master HOST:PORT --flink_job_server_jar PATH [pipeline flags]
# The job server jar is not downloaded here: fetch it with mvn and pass its path.
set -euo pipefail
cd "$(dirname "$0")"
source ./dev_env.sh
args=" $* "
if [[ "$args" != *" --flink_job_server_jar"* ]]; then
  echo "run_flink.sh: pass --flink_job_server_jar PATH (Beam's beam-runners-flink-<flink>-job-server-<beam>.jar, fetched with mvn); nothing is downloaded at run time" >&2
  exit 2
fi
exec pulse run --runner FlinkRunner --setup_file ./setup.py \
  --environment_type PROCESS --environment_config "{\"command\": \"$PULSE_VENV/bin/python -m apache_beam.runners.worker.sdk_worker_main\"}" "$@"
