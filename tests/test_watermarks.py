"""Watermark edges with TestStream (Beam's streaming DirectRunner): late edges within the
allowed lateness rewrite their frames, later ones never reach a frame, an empty start
fires nothing; and the Kafka source's lateness and resume rules."""
import sys

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from pulse.io.kafka_progress import Clocks
from pulse.schemas.windows import WindowGeometry
from pulse.transforms.frames import ToFrames
from pulse.transforms.windows import WindowedComponents


def _edge(second, src, dst, n):
  return TimestampedValue({"type": "WatchEvent", "id": str(n), "created_at": second * 1000,
                           "src": src, "dst": dst, "repo": None}, second)


def _run(stream, sliced=True, lateness=0):
  """Every frame emission (each pane) as (frame id, edges, member sets)."""
  options = PipelineOptions(runner="BundleBasedDirectRunner")
  options.view_as(StandardOptions).streaming = True
  with TestPipeline(options=options) as p:
    frames = (p | stream
              | WindowedComponents(WindowGeometry(20, 10, lateness),
                                   "sliced" if sliced else "plain")
              | ToFrames(min_cluster_size=2)
              | beam.Map(lambda f: (f["id"], f["edges"],
                                    sorted(tuple(c["members"]) for c in f["clusters"]))))
    yield frames


@pytest.mark.parametrize("sliced", [True, False])
def test_late_edge_within_allowed_lateness_rewrites_its_frames(sliced):
  stream = (TestStream()
            .advance_watermark_to(0)
            .add_elements([_edge(5, "a", "b", 1)])
            .advance_watermark_to(25)           # closes [-10, 10) and [0, 20)
            .add_elements([_edge(8, "b", "c", 2)])   # late, within 30 s of lateness
            .advance_watermark_to_infinity())
  for frames in _run(stream, sliced, lateness=30):
    # Each window fires on time, then again with the late edge (accumulating); the
    # store keeps the last write per frame id.
    assert_that(frames, equal_to([
        ("-10000-10000", 1, [("a", "b")]),
        ("0-20000", 1, [("a", "b")]),
        ("-10000-10000", 2, [("a", "b", "c")]),
        ("0-20000", 2, [("a", "b", "c")]),
    ]))


@pytest.mark.parametrize("sliced", [True, False])
def test_edge_later_than_the_allowed_lateness_never_reaches_a_frame(sliced):
  """Beam drops it: which is why the Kafka source sends such events to the dead letter
  before they get here (see test_source_lateness_rule_matches_beam)."""
  stream = (TestStream()
            .advance_watermark_to(0)
            .add_elements([_edge(5, "a", "b", 1)])
            .advance_watermark_to(60)
            .add_elements([_edge(8, "b", "c", 2)])   # 50 s behind: beyond 30 s
            .advance_watermark_to_infinity())
  for frames in _run(stream, sliced, lateness=30):
    assert_that(frames, equal_to([("-10000-10000", 1, [("a", "b")]),
                                  ("0-20000", 1, [("a", "b")])]))


@pytest.mark.parametrize("sliced", [True, False])
def test_empty_start_fires_nothing_until_edges_come(sliced):
  stream = (TestStream()
            .advance_watermark_to(0)
            .advance_watermark_to(100)         # an hour of nothing: no frames
            .add_elements([_edge(105, "x", "y", 1)])
            .advance_watermark_to_infinity())
  for frames in _run(stream, sliced):
    assert_that(frames, equal_to([("90000-110000", 1, [("x", "y")]),
                                  ("100000-120000", 1, [("x", "y")])]))


def test_source_lateness_rule_matches_beam():
  """The source calls an event late exactly when Beam would drop it from every window:
  when the first window holding it ended, lateness included, at or before the watermark
  (windows 20 s every 10 s, 30 s lateness, as above)."""
  windowing = WindowGeometry(20, 10, allowed_lateness_s=30)
  assert windowing.first_window_end(8_000) == 10_000
  assert windowing.is_late(8_000, 40_000)       # [0, 10) + 30 s closed at 40 s
  assert not windowing.is_late(8_000, 39_999)
  assert not windowing.is_late(8_000, 25_000)   # the late-but-kept edge of the test above
  assert windowing.is_late(8_000, 60_000)       # the dropped edge of the test above


def test_resume_time_leaves_a_window_of_margin():
  windowing = WindowGeometry(600, 60)
  # Stored up to 12:00: windows ending later start at 11:51 or later, so their events
  # are those from 11:51 on; less one more window of margin: 11:41.
  assert windowing.resume_time(12 * 3600_000) == 12 * 3600_000 - 1140_000


def test_idle_partition_holds_the_watermark_until_it_reports_and_then_lets_go():
  clocks = Clocks("test-run", [0, 1, 2], max_out_of_order_ms=60_000)
  clocks.commit(0, 1_000_000)
  assert clocks.watermark_ms(1, 2_000_000) == -sys.maxsize   # nothing from partition 2
  clocks.commit(2, 500_000)                               # a heartbeat reached it
  assert clocks.watermark_ms(1, 2_000_000) == 500_000 - 60_000
  clocks.commit(2, 3_000_000)
  assert clocks.watermark_ms(1, 2_000_000) == 1_000_000 - 60_000
  clocks.commit(0, 2**63 - 1)                             # a bounded partition finished
  clocks.commit(2, 2**63 - 1)
  assert clocks.watermark_ms(1, 2**63 - 1) == 2**63 - 1   # all done: +inf
