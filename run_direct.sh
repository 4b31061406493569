#!/usr/bin/env bash
# The main job on the local DirectRunner engine (FnApiRunner), batch.
# With no arguments: reads the real GH Archive hour bundled in data/, writes frames to
# out/frames.db, dead letters to out/dead_letter.jsonl, and prints a summary.
# Arguments replace --input and add flags, e.g.
#   ./run_direct.sh --input 'data/*.json.gz' --window_size 300 --sink sqlite://out/all.db
# See ./run_direct.sh --help.
set -euo pipefail
cd "$(dirname "$0")"
source ./dev_env.sh
mkdir -p out
args=("$@")
has() { local f; for f in "${args[@]}"; do [[ "$f" == "$1"* ]] && return 0; done; return 1; }
defaults=()
has --input || defaults+=(--input data/gharchive-2015-01-01-12.json.gz)
has --sink || defaults+=(--sink sqlite://out/frames.db)
has --dead_letter_output || defaults+=(--dead_letter_output out/dead_letter.jsonl)
has --runner || defaults+=(--runner FnApiRunner)
pulse run "${defaults[@]}" "${args[@]}"
