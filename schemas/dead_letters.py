"""The dead-letter record: what every step emits, on output DEAD, for input it cannot use.
A dead letter keeps the stage that refused it, the reason, where it came from and enough
of the record to find and replay it.

Where a raw record came from travels with it in one field, SOURCE_FIELD: every reader sets
it on each record dict it emits (the file's path, the BigQuery table, or for Kafka
f"{uri}[{partition}]@{offset}"), so that a later stage that refuses the record (the
normaliser) can name its source without depending on the readers. No stage reads it
otherwise; dead_letter() takes it as the letter's source and leaves it out of the record
text."""
import json
import reprlib

import apache_beam as beam

__all__ = ["DEAD", "DECODE", "LATE", "NORMALISE", "EDGES", "STAGES", "MAX_RECORD_CHARS",
           "SOURCE_FIELD", "LETTER_FIELDS", "dead_letter"]

DEAD = "dead_letter"        # the output tag of every step's dead letters
LETTER_FIELDS = ("stage", "reason", "source", "record")   # every letter has these

# The stages that refuse records, in pipeline order (each counted as dead_letter_<stage>).
DECODE = "decode"           # a file, block, row or message that is no event record
LATE = "late"               # a Kafka event behind the watermark beyond the lateness
NORMALISE = "normalise"     # a record that is no readable GitHub event
EDGES = "edges"             # an event whose payload the edge rule needs is unreadable
STAGES = (DECODE, LATE, NORMALISE, EDGES)

MAX_RECORD_CHARS = 65_536   # a 10 MB payload is cut here, and the cut is said in the letter

# The field of a raw record dict naming where the reader found it (see the docstring).
# GitHub's own fields never start with "_".
SOURCE_FIELD = "_source"


def _text(record):
  if isinstance(record, str):
    return record
  if isinstance(record, bytes):
    return record.decode("utf-8", errors="replace")
  try:
    return json.dumps(record, ensure_ascii=False, default=repr)
  except (TypeError, ValueError):
    return repr(record)
  except RecursionError:          # nested too deep for json (and for repr): a summary
    return reprlib.repr(record)


def dead_letter(stage, reason, record, source=""):
  """A TaggedOutput for the dead-letter output: JSON-ready dict with the stage that refused
  the record (one of STAGES), why, where it came from, and the record itself (as text, cut
  if huge). A record dict that carries SOURCE_FIELD gives the source when none is passed,
  and its text leaves the field out."""
  if isinstance(record, dict) and SOURCE_FIELD in record:
    carried = record[SOURCE_FIELD]
    if not source and isinstance(carried, str):
      source = carried
    record = {k: v for k, v in record.items() if k != SOURCE_FIELD}
  text = _text(record)
  letter = {"stage": stage, "reason": reason, "source": source}
  if len(text) > MAX_RECORD_CHARS:
    letter["record_chars"] = len(text)
    text = text[:MAX_RECORD_CHARS]
  letter["record"] = text
  return beam.pvalue.TaggedOutput(DEAD, letter)
