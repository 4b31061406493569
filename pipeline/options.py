"""Network Pulse's own pipeline flags (Beam's flags are accepted beside them)."""
from apache_beam.options.pipeline_options import PipelineOptions

from pulse.transforms.windows import WINDOWINGS

DEFAULT_SINK = "sqlite://pulse_frames.db"
AUTO_CHUNK_EDGES = 250_000       # a chunk's edges when a long run is chunked by default
AUTO_MIN_INPUT_MB = 64           # inputs this large or more are chunked by default


class PulseOptions(PipelineOptions):
  @classmethod
  def _add_argparse_args(cls, parser):
    group = parser.add_argument_group("Network Pulse")
    group.add_argument(
        "--input", action="append", default=None,
        help="Required. GitHub Archive files to read: JSON hours (.json, .json.gz) or BigQuery Avro "
             "exports (.avro, nested or flat shape, told apart per file). Local paths, "
             "s3:// or gs://, glob patterns allowed. Repeat the flag or separate with "
             "commas for several. Or one Kafka topic: kafka://HOST:PORT/TOPIC (events as "
             "the firehose writes them; see the --kafka_* flags). Or one BigQuery table, "
             "either shape: bigquery:PROJECT.DATASET.TABLE (e.g. "
             "bigquery:githubarchive.day.20150101; exported as Avro to --temp_location, "
             "gs://, and billed to --project). A pattern that matches no file is an "
             "error.")
    group.add_argument(
        "--sink", default=DEFAULT_SINK,
        help="Where frames go: sqlite://PATH (sqlite:///abs/path.db or "
             "sqlite://relative/path.db), or jsonl://PATH, one file of JSON lines on any "
             "Beam filesystem (jsonl://gs://bucket/frames.jsonl: for Dataflow), or "
             "rethinkdb://[USER[:PASSWORD]@]HOST:PORT/DB/TABLE (the password better from env "
             "RETHINKDB_PASSWORD rather than the URI, which Beam keeps in the pipeline "
             "description). sqlite:// and rethinkdb:// take a retry budget, e.g. "
             "?retry_s=30&retries=10&timeout_s=5 (the defaults): a write waits for a "
             "locked SQLite file or an unreachable server that long, then fails "
             "(docs/rethinkdb.md; rethinkdb:// also takes batch=200 frames a query). "
             "Frames are keyed by window, so reruns overwrite. Default: "
             f"{DEFAULT_SINK}")
    group.add_argument(
        "--dead_letter_output", default=None,
        help="File (any Beam path) for records that could not be used, one JSON object "
             "per line with stage, reason, source and the record. Without it they are "
             "logged as warnings. Either way they are counted in the summary.")
    group.add_argument(
        "--edges_output", default=None,
        help="Also write every edge as JSON lines {type,id,created_at,src,dst,repo} "
             "(schemas/edge.avsc) to this file.")
    group.add_argument(
        "--window_size", type=int, default=600,
        help="Sliding window length in seconds of event time (a multiple of "
             "--window_period). Default 600: see docs/pipeline.md, 'Windows and components'.")
    group.add_argument(
        "--window_period", type=int, default=60,
        help="Seconds between window starts; one frame per period. Default 60.")
    group.add_argument(
        "--windowing", choices=tuple(WINDOWINGS), default="sliced",
        help="sliced (default): one union-find summary per period (pane), merged per "
             "window, panes grouped by blocks of windows in batch (docs/pipeline.md, 'Windows and "
             "components'); plain: Beam SlidingWindows + the union-find combine over "
             "every edge (the reference; same frames, slower).")
    group.add_argument(
        "--min_cluster_size", type=int, default=3,
        help="Smallest component listed in a frame's clusters (all components are "
             "counted in size_histogram). At least 2. Default 3.")
    group.add_argument(
        "--max_clusters", type=int, default=50,
        help="Most clusters listed per frame, largest first. At least 1. Default 50.")
    group.add_argument(
        "--keep_bots", action="store_true", default=False,
        help="Keep edges to and from bot accounts (logins ending in [bot]); dropped by "
             "default: automation links unrelated people.")
    group.add_argument(
        "--drop_org_owners", action="store_true", default=False,
        help="Drop edges whose partner is the organisation that owns the repo. Kept by "
             "default: see docs/pipeline.md, 'Edge rules'.")

    long_runs = parser.add_argument_group("Network Pulse: long batch runs")
    long_runs.add_argument(
        "--chunk_edges", type=int, default=None,
        help="Bound a batch run's memory: read the input once, writing its edges to disk "
             "by hour of event time (--work_dir), then make the frames in consecutive "
             "runs of about this many edges each, in time order, joined as one run's "
             "(docs/pipeline.md, 'Long runs'). 0: one pass, all in memory. Default: "
             f"{AUTO_CHUNK_EDGES:,} for input files of {AUTO_MIN_INPUT_MB} MB or more in "
             "all, or a BigQuery table, on the FnApiRunner (the default) into a store "
             "that keeps panes (sqlite://); else 0.")
    long_runs.add_argument(
        "--work_dir", default=None,
        help="Where a chunked run keeps its edges between the passes (deleted after "
             "the run). Default: a new folder in the system's temporary folder.")

    kafka = parser.add_argument_group("Network Pulse: Kafka input")
    kafka.add_argument(
        "--kafka_group", default="network-pulse",
        help="Consumer group: its committed offsets are where a run resumes. Default "
             "network-pulse.")
    kafka.add_argument(
        "--kafka_start", choices=("earliest", "latest", "committed"), default="committed",
        help="Where to start: the group's committed offsets (default; earliest where it "
             "has none), or earliest, or latest.")
    kafka.add_argument(
        "--kafka_stop", choices=("never", "end"), default="never",
        help="never (default): read on, for streaming; end: stop at the end offsets seen "
             "at start (a bounded run over what the topic holds).")
    kafka.add_argument(
        "--kafka_max_out_of_order_s", type=int, default=60,
        help="How far behind the newest event time seen in a partition an event may "
             "arrive: the partition's watermark trails by this much. Default 60.")
    kafka.add_argument(
        "--kafka_io", choices=("sdf", "xlang"), default="sdf",
        help="sdf (default): our own Kafka reader (a splittable DoFn); xlang: Beam's "
             "cross-language ReadFromKafka (Java KafkaIO; bounded runs only, commits no "
             "offsets; needs Java and --kafka_expansion_jar; docs/streaming.md, "
             "'Cross-language KafkaIO').")
    kafka.add_argument(
        "--kafka_expansion_jar", default=None,
        help="The Java expansion service jar for --kafka_io=xlang, as printed by "
             "scripts/expansion_service.sh fetch.")
    kafka.add_argument(
        "--allowed_lateness", type=int, default=0,
        help="Seconds after a window closed that a late event still updates its frame "
             "(the frame is rewritten). Later events go to the dead letter as late. "
             "Default 0.")

  def input_patterns(self):
    patterns = [p.strip() for arg in (self.input or []) for p in arg.split(",")]
    return [p for p in patterns if p]
