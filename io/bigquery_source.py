"""Reading a GitHub Archive table straight from BigQuery: --input
bigquery:PROJECT.DATASET.TABLE (e.g. bigquery:githubarchive.day.20150101). BigQuery exports
the table as Avro to --temp_location and Beam reads the files back: one dict per row, of
the nested or flat table shape, TIMESTAMP columns as datetimes (Beam asks for Avro logical
types), which NormaliseEvents takes as they are."""
import apache_beam as beam
from apache_beam.io.gcp.bigquery_tools import parse_table_reference
from apache_beam.options.pipeline_options import GoogleCloudOptions

from pulse.schemas.counters import DEAD_LETTER_COUNTERS, EVENTS_READ, counter
from pulse.schemas.dead_letters import DEAD, DECODE, SOURCE_FIELD, dead_letter

__all__ = ["ReadBigQuery", "is_bigquery", "table_spec", "PREFIX"]

PREFIX = "bigquery:"


def is_bigquery(pattern):
  return pattern.startswith(PREFIX)


def table_spec(uri):
  """'PROJECT:DATASET.TABLE' for bigquery:PROJECT.DATASET.TABLE (or PROJECT:DATASET.TABLE);
  ValueError for anything else. The project is required: the public GH Archive tables
  live in another project than the one that pays for the export."""
  text = uri[len(PREFIX):] if is_bigquery(uri) else uri
  try:
    ref = parse_table_reference(text)
  except ValueError:
    ref = None
  if ref is None or not ref.projectId:
    raise ValueError(f"{uri!r} is not a BigQuery table: use bigquery:PROJECT.DATASET.TABLE, "
                     "e.g. bigquery:githubarchive.day.20150101")
  return f"{ref.projectId}:{ref.datasetId}.{ref.tableId}"


class ReadBigQuery(beam.PTransform):
  """Reads a GitHub Archive table from BigQuery (exported as Avro to --temp_location).

  Args:
    uri: bigquery:PROJECT.DATASET.TABLE.
  Returns: a tagged result, as ReadArchives: "records", raw rows (dicts of the nested or
    flat table shape, plus SOURCE_FIELD: the table); DEAD, dead letters of stage DECODE.
  """
  def __init__(self, uri):
    super().__init__()
    self.uri = uri
    self.table = table_spec(uri)

  def expand(self, pbegin):
    cloud = pbegin.pipeline.options.view_as(GoogleCloudOptions)
    # Without a gs:// temp_location Beam fails only on the worker, after the export job
    # was planned, or (on Dataflow) first spends minutes looking for a default bucket.
    if not (cloud.temp_location or "").startswith("gs://"):
      raise ValueError(f"--input {self.uri} needs --temp_location=gs://BUCKET/PATH: "
                       "BigQuery exports the table there before it is read")
    return (pbegin
            | "Export" >> beam.io.ReadFromBigQuery(
                table=self.table, method=beam.io.ReadFromBigQuery.Method.EXPORT,
                validate=False)   # validation would call BigQuery while building
            | "Rows" >> beam.ParDo(_RowFn(self.table)).with_outputs(DEAD, main="records"))


class _RowFn(beam.DoFn):
  """Counts rows as read and names their table in SOURCE_FIELD (on a copy: the rows are
  Beam's, and an input element is not to be changed); anything but a dict (a coder or
  schema surprise) is a decode dead letter rather than a crash further on."""
  def __init__(self, table):
    self.table = table
    self.read = counter(EVENTS_READ)
    self.bad = counter(DEAD_LETTER_COUNTERS[DECODE])

  def process(self, row):
    if isinstance(row, dict):
      self.read.inc()
      yield {**row, SOURCE_FIELD: self.table}
    else:
      self.bad.inc()
      yield dead_letter(DECODE, f"BigQuery row is a {type(row).__name__}, not a dict",
                        repr(row), source=self.table)
