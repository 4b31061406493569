"""The `pulse` command: one entry point (setup.py: pulse = pulse.cli:main) for every tool
of the project: run the pipeline, convert an hour to an Avro export, export frames, the
firehose, synthetic events and the web page."""
import argparse
import json
import logging
import os
import sys

from pulse.io.bigquery_export import convert
from pulse.io.stores import FrameStoreError, open_store
from pulse.pipeline.run import run
from pulse.redaction import Redact, secrets_in
from pulse.schemas import FLAT, NESTED

LOG = logging.getLogger("pulse")


def export(argv):
  parser = argparse.ArgumentParser(
      prog="pulse export", description="Print the stored frames as JSON lines, ordered by "
      "window_start.")
  parser.add_argument("--sink", required=True, help="the store, e.g. sqlite:///tmp/f.db")
  args = parser.parse_args(argv)
  with open_store(args.sink, create=False) as store:
    try:
      for frame in store.frames():
        sys.stdout.write(json.dumps(frame, ensure_ascii=False) + "\n")
      sys.stdout.flush()
    except BrokenPipeError:
      # The reader stopped (`| head`): end quietly, and let no flush at exit complain.
      os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
  return 0


def convert_command(argv):
  parser = argparse.ArgumentParser(
      prog="pulse convert", description="Write a GH Archive JSON hour as the matching "
      "BigQuery Avro export would: nested (2011-14, 2016+ tables) or flat (2015 table).")
  parser.add_argument("--input", required=True, help="a JSON hour (.json or .json.gz)")
  parser.add_argument("--output", required=True, help="the Avro file to write")
  parser.add_argument("--shape", choices=(NESTED, FLAT), default=NESTED)
  args = parser.parse_args(argv)
  written, refused = convert(args.input, args.output, args.shape)
  print(f"{args.output}: {written:,} events written as a {args.shape} export, "
        f"{len(refused):,} refused")
  for reason, text in refused[:10]:
    print(f"  refused: {reason}: {text[:120]}")
  return 0


def firehose(argv):
  from pulse.firehose.cli import main as firehose_main   # loaded only when used
  return firehose_main(argv)


def synth(argv):
  from pulse.firehose.synth import main as synth_main   # numpy-heavy: load only here
  return synth_main(argv)


def ui(argv):
  from pulse.ui.cli import main as ui_main   # needs Flask-SocketIO only here
  return ui_main(argv)


COMMANDS = {"run": run, "export": export, "convert": convert_command, "firehose": firehose,
            "synth": synth, "ui": ui,    # history: ui/history.py, loaded only when used
            "history": lambda argv: __import__("pulse.ui.history", fromlist=["main"]).main(argv)}


def main(argv=None):
  argv = sys.argv[1:] if argv is None else list(argv)
  logging.basicConfig(level=logging.WARNING,
                      format="%(asctime)s %(levelname)s %(name)s: %(message)s")
  LOG.setLevel(logging.INFO)
  # Beam announces each helper process it starts and stops (Prism, an expansion service)
  # as a warning; nothing is wrong then.
  logging.getLogger("apache_beam.utils.subprocess_server").setLevel(logging.ERROR)
  redact = Redact(secrets_in(argv))
  for handler in logging.getLogger().handlers:
    handler.addFilter(redact)
  if not argv or argv[0] not in COMMANDS:
    print("usage: pulse {run,convert,export,firehose,synth,ui,history} [flags]   "
          "(pulse COMMAND --help)\n"
          "  run       run the pipeline (files or Kafka; Beam flags accepted)\n"
          "  convert   write a JSON hour as a BigQuery Avro export (nested or flat)\n"
          "  export    print stored frames as JSON lines\n"
          "  firehose  replay archives into a Kafka topic at a set rate\n"
          "  synth     write realistic synthetic GitHub events (JSON or Avro)\n"
          "  ui        serve the live web UI over a frame store\n"
          "  history   print one cluster's life across the stored windows", file=sys.stderr)
    return 0 if argv and argv[0] in ("-h", "--help") else 2
  try:
    return COMMANDS[argv[0]](argv[1:])
  except ValueError as error:        # a mistake in what was asked: nothing was done
    print(f"pulse {argv[0]}: error: {redact.text(str(error))}", file=sys.stderr)
    return 2
  except FrameStoreError as error:   # the store failed for good (its reason says why)
    print(f"pulse {argv[0]}: error: {redact.text(str(error))}", file=sys.stderr)
    return 1
  finally:
    for handler in logging.getLogger().handlers:
      handler.removeFilter(redact)
