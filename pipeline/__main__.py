"""python -m pulse.pipeline [run] ...: the same as the `pulse` command (run by default)."""
import sys

from pulse.pipeline.cli import COMMANDS, main

argv = sys.argv[1:]
if not argv or argv[0] not in COMMANDS:
  argv = ["run"] + argv
sys.exit(main(argv))
