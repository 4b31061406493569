"""The page over a week of frames: builds (or reuses) an SQLite store of 10,080 windows
(600 s every 60 s: the frames of the real 2015 hour, replayed back to back with fresh ids
and times, and a 3 h gap in the middle), serves it with `pulse ui` and measures, in
Debian's headless Chromium: the store's size, the /api/frames payload, the first load
(median of 3), showing a window stepped to (median), the time chart's redraw, and the
server's memory.

  python bench/page.py [--store /tmp/week.db] [--repeats 3] [--steps 15]

tests/test_ui_week.py builds its store with week_frames() and checks bounds on the same
figures; docs/ui.md ("A week of frames") has the results.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import orjson

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
HOUR = os.path.join(REPO, "data", "gharchive-2015-01-01-12.json.gz")
WEEK = 10_080                 # windows: 7 days at 60 s
GAP_AT, GAP_WINDOWS = WEEK // 2, 180   # 3 h without frames in the middle


def hour_frames(folder):
  """The frames of the bundled 2015 hour (600 s / 60 s windows), from `pulse run`."""
  sink = f"sqlite://{os.path.join(folder, 'hour.db')}"
  subprocess.run([sys.executable, "-m", "pulse.pipeline", "run", "--input", HOUR,
                  "--sink", sink, "--dead_letter_output",
                  os.path.join(folder, "dead.jsonl")], check=True, cwd=REPO,
                 stdout=subprocess.DEVNULL)
  from pulse.io.stores import open_store
  with open_store(sink, create=False) as store:
    return list(store.frames())


def _moved(cluster_id, shift):
  """A lineage id "<born ms>/<first member>" born `shift` ms later."""
  born, slash, first = str(cluster_id).partition("/")
  return f"{int(born) + shift}/{first}" if slash and born.isdigit() else cluster_id


def shift(frame, ms):
  """Moves a frame `ms` later, in place: its window, id, cluster ids and links' times."""
  frame["window_start"] += ms
  frame["window_end"] += ms
  frame["id"] = f"{frame['window_start']}-{frame['window_end']}"
  for cluster in (frame.get("clusters") or []) + (frame.get("more_clusters") or []):
    cluster["id"] = _moved(cluster["id"], ms)
    for source in cluster.get("from") or ():
      source["id"] = _moved(source["id"], ms)
    for link in cluster.get("links") or ():
      link["created_at"] += ms
  frame["dissolved"] = [_moved(i, ms) for i in frame.get("dissolved") or ()]
  return frame


def week_batches(hour, count=WEEK, gap_at=GAP_AT, gap_windows=GAP_WINDOWS):
  """`count` frames, one per period, in batches of len(hour): the hour's frames
  (consecutive windows) again and again, each replay starting a period after the last
  one's end, and gap_windows periods without frames before the gap_at-th. Lineage holds
  within each replay (its first window's clusters are born). The frames of a batch are
  the same objects, moved, in every batch (a week of them parsed anew is most of the
  time): use a batch before asking for the next."""
  frames = [orjson.loads(orjson.dumps(f)) for f in hour]
  period = hour[1]["window_start"] - hour[0]["window_start"]
  first, moved = hour[0]["window_start"], [0] * len(hour)
  for lap in range(0, count, len(hour)):
    batch = []
    for k in range(lap, min(count, lap + len(hour))):
      at = k - lap
      ms = (lap + (gap_windows if k >= gap_at else 0)) * period
      batch.append(shift(frames[at], ms - moved[at]))
      moved[at] = ms
      assert frames[at]["window_start"] == first + (k + (gap_windows if k >= gap_at else 0)) \
          * period, "the hour's windows are not one period apart"
    yield batch


def build_week_store(path, hour, **week):
  """An SQLite store at path of the frames of week_batches(hour, **week); returns how
  many."""
  from pulse.io.stores import open_store
  with open_store(f"sqlite://{path}") as store:
    return sum(store.write(batch) for batch in week_batches(hour, **week))


def fetch(url, gzipped):
  """(bytes on the wire, the body) of a GET."""
  request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gzipped else {})
  with urllib.request.urlopen(request, timeout=30) as response:
    body = response.read()
    wire = len(body)
    if response.headers.get("Content-Encoding") == "gzip":
      import gzip
      body = gzip.decompress(body)
  return wire, body


def memory(pid):
  """(RSS, peak RSS) of a process, in MB."""
  with open(f"/proc/{pid}/status") as f:
    fields = dict(line.split(":", 1) for line in f)
  return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))


# The time chart redrawn in the page: all its lines (what a new frame costs), then only the
# rule marking the shown window (what a step costs), each awaited and painted.
REDRAW = """
const done = arguments[arguments.length - 1];
(async () => {
  const body = await (await fetch('/api/frames')).json(), frames = body.frames;
  const paint = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const full = [], move = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await pulseCharts.drawTime(frames, frames[frames.length - 1], 'bench-' + i);
    await paint();
    full.push(performance.now() - t);
  }
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    await pulseCharts.drawTime(frames, frames[i * 997 % frames.length], 'bench-2');
    await paint();
    move.push(performance.now() - t);
  }
  done({full, move});
})();"""


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--store", help="the week's SQLite store: built there if missing "
                      "(default: a temporary one)")
  parser.add_argument("--repeats", type=int, default=3, help="first loads (default 3)")
  parser.add_argument("--steps", type=int, default=15, help="windows stepped to (15)")
  args = parser.parse_args(argv)
  sys.path.insert(0, os.path.join(REPO, "tests"))
  from helpers import free_port
  from test_ui import _chromium, _pulse_ui_process, _wait

  folder = tempfile.mkdtemp(prefix="pulse-page-")
  path = args.store or os.path.join(folder, "week.db")
  if not os.path.exists(path):
    started = time.monotonic()
    count = build_week_store(path, hour_frames(folder))
    print(f"built {count:,} frames into {path} in {time.monotonic() - started:.0f} s")
  size = sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
  print(f"store                {size / 1e6:8.1f} MB")
  sink = f"sqlite://{path}"
  with _pulse_ui_process(sink, free_port(), os.path.join(folder, "ui.log")) as (server, url):
    wire, body = fetch(url + "api/frames", gzipped=True)
    listing = orjson.loads(body)
    frames, opened = listing["frames"], listing["open"]
    frame_wire, _ = fetch(url + "api/frame?id=" + opened, gzipped=True)
    print(f"/api/frames          {len(body) / 1e3:8.0f} KB ({wire / 1e3:.0f} KB gzipped) for "
          f"{len(frames):,} windows; the opening frame {frame_wire / 1e3:.0f} KB gzipped")
    loads, ready, steps = [], [], []
    for n in range(args.repeats):
      with _chromium(tempfile.mkdtemp(dir=folder, prefix="chromium-")) as driver:
        started = time.monotonic()
        driver.get(url)
        _wait(driver, "the opening frame", lambda s: s["frameId"] == opened and
              s["frames"] == len(frames), 60)
        loads.append(time.monotonic() - started)
        ready.append(driver.execute_script("return performance.getEntriesByType("
                                           "'navigation')[0].domContentLoadedEventEnd") / 1e3)
        if n:
          continue
        redraw = driver.execute_async_script(REDRAW)
        for k in range(args.steps):       # windows far apart: none cached
          target = (k * 661 + 17) % len(frames)
          started = time.monotonic()
          driver.execute_script("const s = document.getElementById('slider');"
                                "s.value = arguments[0]; s.dispatchEvent(new Event('input'));",
                                str(target))
          _wait(driver, "the window", lambda s, i=frames[target]["id"]: s["frameId"] == i, 30)
          steps.append(time.monotonic() - started)
        cached = driver.execute_script("return window.pulse.state().cached")
    stats = orjson.loads(fetch(url + "api/stats", gzipped=False)[1])
    rss, peak = memory(server.pid)
  print(f"first load           {statistics.median(loads):8.2f} s   (median of {len(loads)}: "
        + ", ".join(f"{t:.2f}" for t in loads) + "), of which the page's scripts (Plotly, "
        f"sigma, ...) {statistics.median(ready):.2f} s before it asks for data")
  print(f"step to a window     {statistics.median(steps) * 1e3:8.0f} ms  (median of "
        f"{len(steps)}, max {max(steps) * 1e3:.0f} ms); the page holds {cached} frames")
  print(f"time chart redraw    {statistics.median(redraw['full']):8.0f} ms  (all lines); "
        f"{statistics.median(redraw['move']):.0f} ms (the shown window's rule only)")
  print(f"server               {rss:8.0f} MB RSS (peak {peak:.0f} MB); {stats['summaries']:,} "
        f"summaries, {stats['cached_frames']} frames cached, {stats['frames_read']} read "
        "from the store")


if __name__ == "__main__":
  main()
