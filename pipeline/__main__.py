"""python -m pulse.pipeline [run] ...: the same as `pulse run`."""
import sys

from pulse.cli import COMMANDS, main

argv = sys.argv[1:]
if not argv or argv[0] not in COMMANDS:
  argv = ["run"] + argv
sys.exit(main(argv))
