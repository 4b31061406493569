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
# follow (./run_dataflow.sh --help lists them).
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
if has -h || has --help; then
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
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
