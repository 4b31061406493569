"""The frame-store protocol (io/stores/base.py), held by every store in the registry: write,
read by time range, newest stored window, idempotent rewrites, subscribe where offered,
and the registry's refusals."""
import pytest

from pulse.io.stores import SCHEMES, FrameStore, check_uri, open_store
from rethinkdb_double import RethinkDBDouble

MINUTE = 60_000


def frame(start, edges=1):
  return {"id": f"{start}-{start + 600_000}", "window_start": start,
          "window_end": start + 600_000, "edges": edges, "vertices": 2, "components": 1,
          "size_histogram": {"2": 1}, "clusters": []}


@pytest.fixture(params=sorted(SCHEMES))
def store_uri(request, tmp_path):
  """A URI of a fresh store of each registered scheme: a new store needs a line here."""
  if request.param == "sqlite":
    yield f"sqlite://{tmp_path}/frames.db"
  elif request.param == "jsonl":
    yield f"jsonl://{tmp_path}/frames.jsonl"
  elif request.param == "rethinkdb":
    with RethinkDBDouble() as double:
      yield f"rethinkdb://admin@{double.address}/pulse/frames"
  else:
    pytest.fail(f"no test URI for the store scheme {request.param!r}")


def _write(uri, frames):
  """Writes as the pipeline does: the store's own Beam write where it has one."""
  store_cls = SCHEMES[uri.partition("://")[0]]
  if store_cls.beam_write(uri, streaming=False) is None:
    with open_store(uri) as store:
      assert store.write(frames) == len(frames)
  else:     # jsonl: JSON lines, as WriteJsonLines leaves them (last line of an id wins)
    import json
    path = uri.partition("://")[2]
    with open(path, "a", encoding="utf-8") as f:
      f.writelines(json.dumps(fr) + "\n" for fr in frames)


def test_every_store_reads_by_time_range_and_knows_its_newest_window(store_uri):
  with open_store(store_uri) as store:
    assert isinstance(store, FrameStore)
    assert list(store.frames()) == [] and store.newest_window_end() is None
  _write(store_uri, [frame(m * MINUTE) for m in (5, 1, 3, 2, 4)])
  _write(store_uri, [frame(3 * MINUTE, edges=7)])          # a rewrite replaces
  with open_store(store_uri) as store:
    assert [f["window_start"] for f in store.frames()] == [m * MINUTE for m in range(1, 6)]
    assert [f["edges"] for f in store.frames(3 * MINUTE, 4 * MINUTE)] == [7]
    assert [f["window_start"] // MINUTE for f in store.frames(start_ms=4 * MINUTE)] == [4, 5]
    assert [f["window_start"] // MINUTE for f in store.frames(end_ms=3 * MINUTE)] == [1, 2]
    assert list(store.frames(10 * MINUTE, 20 * MINUTE)) == []
    assert store.newest_window_end() == 5 * MINUTE + 600_000


def test_subscribe_is_offered_exactly_where_the_store_says(store_uri):
  with open_store(store_uri) as store:
    if store.can_subscribe:
      feed = store.subscribe(idle_s=0.5)
      _write(store_uri, [frame(0)])
      assert [f["id"] for f in feed] == [frame(0)["id"]]
    else:
      with pytest.raises(NotImplementedError):
        store.subscribe()


@pytest.mark.parametrize("uri, message", [
    ("mysql://h/db", "unknown sink 'mysql://h/db': use sqlite://PATH, jsonl://PATH, "
                     "rethinkdb://"),
    ("frames.db", "unknown sink"),
    ("sqlite://", "needs a place"),
    ("sqlite://f.db?retries=-1", "retries=.* is not a int >= 0"),
    ("rethinkdb://u:secret@h:1/bad-db/t", r"bad RethinkDB sink 'rethinkdb://u:\*\*\*@h"),
])
def test_the_registry_refuses_what_names_no_store_without_connecting(uri, message):
  with pytest.raises(ValueError, match=message):
    check_uri(uri)
