#!/usr/bin/env bash
# The main job on this machine.
#
#   ./run_direct.sh [flags]              batch on FnApiRunner (the Python DirectRunner's
#                                        engine) over the real hour bundled in data/
#   ./run_direct.sh --streaming [flags]  streaming on Prism (built once by scripts/prism.sh).
#                                        Without --input: starts a local Kafka broker
#                                        (scripts/kafka.sh), replays the bundled hour into
#                                        it with the firehose, and streams frames as windows
#                                        close. Ctrl-C stops it and prints the summary.
#   ./run_direct.sh --ui [flags]         either of the above, then the live web UI on its
#                                        frames (`pulse ui`, http://127.0.0.1:5000/)
#
# Defaults, each replaced by the flag given: --input data/gharchive-2015-01-01-12.json.gz,
# --sink sqlite://out/frames.db, --dead_letter_output out/dead_letter.jsonl.
# Any `pulse run` or Beam flag may follow (./run_direct.sh --help lists them).
set -euo pipefail
cd "$(dirname "$0")"
source ./dev_env.sh
mkdir -p out
args=() ui=0
for arg in "$@"; do [[ "$arg" == --ui ]] && ui=1 || args+=("$arg"); done
has() { local f; for f in "${args[@]}"; do [[ "$f" == "$1" || "$f" == "$1="* ]] && return 0; done; return 1; }
defaults=()
has --sink || defaults+=(--sink sqlite://out/frames.db)
sink() {   # the store the run writes, for the UI
  local i
  for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in --sink=*) echo "${args[i]#--sink=}"; return ;;
                         --sink) echo "${args[i+1]}"; return ;; esac
  done
  echo sqlite://out/frames.db
}
has --dead_letter_output || defaults+=(--dead_letter_output out/dead_letter.jsonl)
if ! has --streaming; then
  has --input || defaults+=(--input data/gharchive-2015-01-01-12.json.gz)
  has --runner || defaults+=(--runner FnApiRunner)
  pulse run "${defaults[@]}" "${args[@]}"
  [ "$ui" = 1 ] && exec pulse ui --sink "$(sink)"
  exit 0
fi

has --runner || defaults+=(--runner PrismRunner --prism_location "$(bash scripts/prism.sh install)")
if ! has --input; then
  broker=out/kafka
  bash scripts/kafka.sh fetch >&2
  bootstrap=$(bash scripts/kafka.sh start "$broker")
  firehose_pid=""
  cleanup() {
    [ -n "$firehose_pid" ] && kill "$firehose_pid" 2>/dev/null || true
    bash scripts/kafka.sh stop "$broker" >&2 || true
  }
  trap cleanup EXIT
  topic=github-events
  # Replay the bundled hour at 1,000 events/s (about 8 s), starting once the job runs.
  (sleep 5; pulse firehose --input data/gharchive-2015-01-01-12.json.gz \
     --bootstrap_servers "$bootstrap" --topic "$topic" --rate 1000) &
  firehose_pid=$!
  python -c "from pulse.firehose.replay import ensure_topic; ensure_topic('$bootstrap', '$topic', 4)"
  defaults+=(--input "kafka://$bootstrap/$topic" --kafka_start earliest)
fi
pulse run "${defaults[@]}" "${args[@]}"
if [ "$ui" = 1 ]; then
  if declare -F cleanup >/dev/null; then cleanup; trap - EXIT; fi   # the broker is done
  exec pulse ui --sink "$(sink)"
fi
