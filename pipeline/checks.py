"""Refusing mistakes before any work: every check here raises ValueError with a one-line
reason, which `pulse` prints as its error (exit 2). Beam itself would warn and run on (an
unknown flag, a pattern that matches nothing), retry for minutes (object stores without
credentials), or fail only after the run (an unwritable store)."""
import difflib
import os
import stat

from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import (
    DirectOptions, GoogleCloudOptions, PipelineOptions, StandardOptions, TestOptions,
    _BeamArgumentParser)
from apache_beam.options.pipeline_options_validator import PipelineOptionsValidator

from pulse.io import bigquery_source
from pulse.io.json_lines import check_local_output
from pulse.io.object_stores import check_credentials
from pulse.io.stores.registry import store_class
from pulse.pipeline.options import PulseOptions
from pulse.schemas import load_schema
from pulse.schemas.dead_letters import LETTER_FIELDS
from pulse.schemas.windows import WindowGeometry

# The smallest value each numeric flag of ours takes.
MINIMUM = {"window_size": 1, "window_period": 1, "allowed_lateness": 0,
           "min_cluster_size": 2, "max_clusters": 1, "kafka_max_out_of_order_s": 0}
EDGE_FIELDS = [f["name"] for f in load_schema("edge")["fields"]]
# Runners that hand unknown flags to a job server, which may know them.
JOB_SERVER_RUNNERS = ("portablerunner", "flinkrunner", "sparkrunner")


class _StrictParser(_BeamArgumentParser):
  """Beam's own flag parser, raising instead of printing usage and exiting."""
  def error(self, message):
    raise ValueError(message)


def _all_flags_parser():
  # As PipelineOptions.get_all_options parses: every PipelineOptions subclass's flags.
  parser = _StrictParser(allow_abbrev=False, add_help=False)
  for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
    cls._add_argparse_args(parser)   # pylint: disable=protected-access
  return parser


def check_flags(argv):
  """Every argument is a flag of ours or of Beam's, with a value of its type. Runners with
  a job server may take flags of their own: for them only near-misses of known flags are
  refused."""
  parser = _all_flags_parser()
  _, unknown = parser.parse_known_args(argv)
  known = [s for action in parser._actions for s in action.option_strings]
  runner = (PipelineOptions(argv).view_as(StandardOptions).runner or "").lower()
  passed_on = False          # the previous argument was a flag left to the job server
  for arg in unknown:
    flag = arg.split("=", 1)[0]
    if not flag.startswith("-"):
      if passed_on:
        passed_on = False
        continue
      raise ValueError(f"unexpected argument {arg!r}: flags take the form --name value")
    near = difflib.get_close_matches(flag, known, n=1, cutoff=0.8)
    passed_on = runner in JOB_SERVER_RUNNERS and not near and "=" not in arg
    if runner in JOB_SERVER_RUNNERS and not near:
      continue
    raise ValueError(f"unknown flag {flag}" + (f": did you mean {near[0]}?" if near else
                                              " (pulse run --help lists the flags)"))


def check_values(options):
  """Numbers in range, and a window geometry windows can have."""
  o = options.view_as(PulseOptions)
  for name, least in MINIMUM.items():
    value = getattr(o, name)
    if value < least:
      raise ValueError(f"--{name} {value}: must be at least {least}")
  WindowGeometry(o.window_size, o.window_period, o.allowed_lateness)
  workers = options.view_as(DirectOptions).direct_num_workers
  if workers is not None and workers < 0:
    raise ValueError(f"--direct_num_workers {workers}: must be at least 0 (0: one per core)")


def check_dataflow(options):
  """A Dataflow run has a project, a region and a valid gs:// temp_location: without them
  Beam first spends ~2 minutes trying to make a default bucket, then fails."""
  if "dataflow" not in (options.view_as(StandardOptions).runner or "").lower():
    return
  cloud = options.view_as(GoogleCloudOptions)
  missing = [f"--{name}" for name in ("project", "region", "temp_location")
             if not getattr(cloud, name)]
  if missing:
    raise ValueError("the Dataflow runner needs --project, --region and "
                     f"--temp_location=gs://BUCKET/PATH; missing: {', '.join(missing)}")
  errors = PipelineOptionsValidator(options, None).validate_gcs_path(cloud, "temp_location")
  if errors:
    raise ValueError(errors[0])


def check_input_kinds(patterns):
  """Some input, and a Kafka topic or a BigQuery table only as the one input."""
  if not patterns:
    raise ValueError("no --input given: name GitHub Archive files (JSON hours or Avro), "
                     "a Kafka topic (kafka://HOST:PORT/TOPIC) or a BigQuery table")
  for kind, test in (("BigQuery", bigquery_source.is_bigquery),
                     ("Kafka", lambda p: p.startswith("kafka://"))):
    if any(test(p) for p in patterns) and len(patterns) != 1:
      raise ValueError(f"a {kind} input must be the only --input")


def check_inputs(options):
  """Object-store credentials are there, and every file pattern matches a file."""
  patterns = options.view_as(PulseOptions).input_patterns()
  check_input_kinds(patterns)
  check_credentials(patterns, options)
  if options.view_as(TestOptions).dry_run:
    return           # nothing is read: the files may not exist yet
  FileSystems.set_options(options)       # s3:// takes its endpoint and keys from them
  for pattern in patterns:
    if pattern.startswith("kafka://") or bigquery_source.is_bigquery(pattern):
      continue
    if "://" not in pattern and os.path.isdir(pattern):
      raise ValueError(f"--input {pattern} is a folder: name files, e.g. "
                       f"{os.path.join(pattern, '*.json.gz')}")
    try:
      (match,) = FileSystems.match([pattern])
    except BeamIOError as error:
      reasons = "; ".join(f"{e}" for e in (error.exception_details or {}).values())
      raise ValueError(f"--input {pattern}: cannot be listed: {reasons or error}") from None
    if not match.metadata_list:
      raise ValueError(f"--input {pattern}: no file matches")
    for metadata in match.metadata_list:     # a FIFO or a device would hang or never end
      if "://" not in metadata.path and not stat.S_ISREG(os.stat(metadata.path).st_mode):
        raise ValueError(f"--input {metadata.path} is not a regular file (a device, FIFO "
                         "or socket): name files")


def _local(path):
  return os.path.abspath(path) if path and "://" not in path else None


def check_outputs(options):
  """The store and the JSON-lines outputs can be written, where that can be told here;
  no output would replace what is not ours (a folder, a device, a read-only file, a file
  of other content) or another output (see io/json_lines.check_local_output)."""
  o = options.view_as(PulseOptions)
  store = store_class(o.sink)
  if options.view_as(TestOptions).dry_run:
    return
  outputs = {flag: _local(path) for flag, path in (
      ("--dead_letter_output", o.dead_letter_output), ("--edges_output", o.edges_output),
      ("--sink", store.local_path(o.sink)))}
  taken = {}
  for flag, path in outputs.items():
    if path is not None and path in taken:
      raise ValueError(f"{taken[path]} and {flag} name the same file {path}: one would "
                       "overwrite the other")
    taken.setdefault(path, flag)
  store.check_writable(o.sink)
  for flag, fields in (("--dead_letter_output", LETTER_FIELDS),
                       ("--edges_output", EDGE_FIELDS)):
    if outputs[flag]:
      check_local_output(outputs[flag], f"{flag} {outputs[flag]}", fields)


def check_run(argv, options):
  """All of the above, cheapest first."""
  check_flags(argv)
  check_values(options)
  check_dataflow(options)
  check_inputs(options)
  check_outputs(options)
