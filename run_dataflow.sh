#!/usr/bin/env bash
# The pipeline on Google Cloud Dataflow (batch; or --streaming from a Kafka topic the
# workers can reach).
#
#   ./run_dataflow.sh --project P --region R --temp_location gs://BUCKET/tmp [flags]
#
# e.g. --input bigquery:githubarchive.day.20150101 (the export goes to --temp_location and
# is billed to --project) or --input 'gs://BUCKET/hours/*.json.gz', and
# --sink jsonl://gs://BUCKET/frames.jsonl (Dataflow workers share no disk, so sqlite://
# is refused). --dry_run translates the job and submits nothing (no credentials needed).
# Workers get this package with --setup_file ./setup.py. Any `pulse run` or Beam flag may
# follow (`pulse run --help` lists them; ./run_dataflow.sh --help prints the usage below).
set -euo pipefail
cd "$(dirname "$0")"
args=()
for a in "$@"; do
  # Beam's --dry_run takes a value; a bare --dry_run means True here.
  [[ "$a" == "--dry_run" ]] && a="--dry_run=True"
  args+=("$a")
done
has() { local f; for f in "${args[@]}"; do [[ "$f" == "$1" || "$f" == "$1="* ]] && return 0; done; return 1; }
value() {   # the value of flag $1 (--flag=V or --flag V), or nothing
  local i
  for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
      "$1="*) echo "${args[i]#*=}"; return ;;
      "$1") echo "${args[i + 1]:-}"; return ;;
    esac
  done
}
usage() {
  cat <<'USAGE'
usage: ./run_dataflow.sh --project P --region R --temp_location gs://BUCKET/PATH
                         --input INPUT --sink jsonl://gs://BUCKET/frames.jsonl
                         [--dry_run] [pulse run flags] [Beam/Dataflow flags]

Runs the Network Pulse pipeline on Google Cloud Dataflow: batch, or --streaming from a
Kafka topic the workers can reach. The script checks the flags below, then runs
  pulse run --runner DataflowRunner --setup_file ./setup.py [every flag given]
(the workers install this package from ./setup.py).

Required; checked here, exit 2 when missing or wrong (Beam itself would first spend about
two minutes trying to make a default bucket):
  --project P           Google Cloud project that runs the job (and pays for a BigQuery
                        export)
  --region R            Dataflow region, e.g. us-central1
  --temp_location gs://BUCKET/PATH
                        staging and temporary files; must be gs://. A BigQuery --input
                        is exported there as Avro.
  --sink URI            the frame store, shared by all workers:
                        jsonl://gs://BUCKET/frames.jsonl (one file of JSON lines)
                        or rethinkdb://[USER@]HOST:PORT/DB/TABLE; sqlite:// is
                        refused (Dataflow workers share no disk)

Read here:
  --dry_run             translate the job and submit nothing (no credentials needed).
                        Beam's --dry_run takes a value; a bare --dry_run means
                        --dry_run=True here
  -h, --help            this text

Passed on to `pulse run` unchanged (`pulse run --help` lists all of its flags):
  --input INPUT         required by pulse run: bigquery:PROJECT.DATASET.TABLE (e.g.
                        bigquery:githubarchive.day.20150101: a BigQuery export billed to
                        --project), 'gs://BUCKET/hours/*.json.gz' (JSON hours),
                        'gs://BUCKET/exports/*.avro' (BigQuery Avro exports, either
                        shape), or with --streaming kafka://HOST:PORT/TOPIC
  --window_size, --window_period, --dead_letter_output, --edges_output, ...
                        every other pulse run flag
  Beam and Dataflow flags, e.g. --streaming, --job_name, --num_workers,
                        --max_num_workers, --worker_machine_type,
                        --service_account_email, --staging_location, --network,
                        --subnetwork
Set by this script: --runner DataflowRunner, --setup_file ./setup.py

Examples:
  ./run_dataflow.sh --project my-project --region us-central1 \
      --temp_location gs://my-bucket/tmp --input bigquery:githubarchive.day.20150101 \
      --sink jsonl://gs://my-bucket/frames.jsonl
  ./run_dataflow.sh --project my-project --region us-central1 \
      --temp_location gs://my-bucket/tmp --input 'gs://my-bucket/hours/*.json.gz' \
      --sink jsonl://gs://my-bucket/frames.jsonl --window_size 300 --dry_run
USAGE
}
if has -h || has --help; then
  usage
  exit 0
fi
missing=()
for flag in --project --region --temp_location; do
  [ -n "$(value "$flag")" ] || missing+=("$flag")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "run_dataflow.sh: missing ${missing[*]}: Dataflow needs --project P --region R" \
       "--temp_location gs://BUCKET/PATH" >&2
  exit 2
fi
if [[ "$(value --temp_location)" != gs://* ]]; then
  echo "run_dataflow.sh: --temp_location must be gs://BUCKET/PATH" >&2
  exit 2
fi
if has --sink && [[ "$(value --sink)" == sqlite://* ]]; then
  echo "run_dataflow.sh: a sqlite:// sink would land on the workers' disks: use" \
       "--sink jsonl://gs://BUCKET/frames.jsonl" >&2
  exit 2
fi
has --sink || { echo "run_dataflow.sh: --sink jsonl://gs://BUCKET/frames.jsonl is needed" \
                     "(workers share no disk)" >&2; exit 2; }
source ./dev_env.sh
exec pulse run --runner DataflowRunner --setup_file ./setup.py "${args[@]}"
