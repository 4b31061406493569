"""pulse history: one cluster's life across the stored windows, from the lineage the
frames carry (transforms/lineage.py): its size, change, hub and brokers per window, what
it merged with or split off, and how it ended (dissolved, merged into another, split, or
still alive at the store's last window). cluster_history() gives plain data (for --json
and the page's /api/history); render() gives the text."""
import argparse
import json
import sys
import time

from pulse.io.stores import open_store

__all__ = ["cluster_history", "render", "main", "born_at"]

# How a life ends, as cluster_history's end["how"] says it.
ALIVE, DISSOLVED, MERGED, SPLIT, GONE = "alive", "dissolved", "merged", "split", "gone"


def born_at(cluster_id):
  """The window_start (ms) a lineage id "<window_start>/<first member>" was born at, or
  None for an id of another form (a frame written before lineage: the first member)."""
  head, slash, _ = cluster_id.partition("/")
  return int(head) if slash and head.isdigit() and len(head) <= 15 else None


def _listed(frame):
  """(cluster, where) for every cluster a frame lists: the drawn ones, then the rest."""
  for where in ("clusters", "more_clusters"):
    for cluster in frame.get(where) or ():
      if isinstance(cluster, dict):
        yield cluster, where


def _sources(cluster):
  """A cluster's predecessors, as {"id", "shared"}, ranked as the frame ranks them."""
  return [{"id": f.get("id"), "shared": f.get("shared")} for f in cluster.get("from") or ()
          if isinstance(f, dict)]


def _successors(frame, cluster_id):
  """The clusters of `frame` (the next window) other than cluster_id itself that took
  members of cluster_id: {"id", "shared", "size", "change"}, most shared first."""
  out = []
  for cluster, _ in _listed(frame):
    if cluster.get("id") == cluster_id:
      continue
    shared = next((s["shared"] for s in _sources(cluster) if s["id"] == cluster_id), None)
    if shared is not None:
      out.append({"id": cluster.get("id"), "shared": shared, "size": cluster.get("size"),
                  "change": cluster.get("change")})
  out.sort(key=lambda s: (-(s["shared"] or 0), -(s["size"] or 0), str(s["id"])))
  return out


def _brokers(cluster):
  """A listed cluster's broker links, each with the members on either side of it:
  [{"pair": [u, v], "sides": [u's side, v's side]}], from its bridges and its links (a
  bridge is one of the spanning links: without it the tree falls in two)."""
  adjacent = {}
  links = cluster.get("links")
  for link in links if isinstance(links, list) else ():
    if isinstance(link, dict) and isinstance(link.get("src"), str) and \
        isinstance(link.get("dst"), str):
      adjacent.setdefault(link.get("src"), []).append(link.get("dst"))
      adjacent.setdefault(link.get("dst"), []).append(link.get("src"))
  out = []
  bridges = cluster.get("bridges")
  for pair in bridges if isinstance(bridges, list) else ():
    if not (isinstance(pair, list) and len(pair) == 2 and all(p in adjacent for p in pair)):
      continue
    u, v = pair
    seen, stack = {u}, [u]
    while stack:
      node = stack.pop()
      for other in adjacent[node]:
        if other not in seen and {node, other} != {u, v}:
          seen.add(other)
          stack.append(other)
    out.append({"pair": [u, v], "sides": [len(seen), len(adjacent) - len(seen)]})
  return out


def _entry(frame, cluster, where):
  return {"frame": frame.get("id"), "window_start": frame.get("window_start"),
          "window_end": frame.get("window_end"), "size": cluster.get("size"),
          "change": cluster.get("change"),
          "hub": cluster.get("hub") if where == "clusters" else None,   # more_clusters: none
          "listed": where, "from": _sources(cluster), "brokers": _brokers(cluster)}


def _ordered_frames(store, start_ms):
  """The frames from start_ms on (None: all), read once: a store's frames() (possibly a
  generator), or an iterable of frames already in store order."""
  if hasattr(store, "frames"):
    return store.frames(start_ms=start_ms) if start_ms is not None else store.frames()
  if start_ms is None:
    return iter(store)
  return (f for f in store if f.get("window_start", 0) >= start_ms)


def cluster_history(store, cluster_id):
  """One cluster's life, as plain data:

  {"id", "windows": [{"frame", "window_start", "window_end", "size", "change", "hub" (None
   where it is in more_clusters), "listed", "from": [{"id", "shared"}] (its predecessors
   in the previous window), "brokers": [{"pair": [u, v], "sides": [n, m]}] (its broker
   links, see _brokers; none where it is in more_clusters), "split_off": [{"id",
   "shared", "size", "change"}] (the other clusters of this window that took members of
   it while it went on)}, ...],
   "largest": {"size", "frame"},
   "end": {"how": "alive" | "dissolved" | "merged" | "split" | "gone", "frame",
           "window_start", "window_end" (the next window, where it is no more; None while
           alive), "into": [successors, as split_off]}}

  Its life runs from the first window that lists it to the last of the consecutive
  windows that do; it is looked for from the window its id says it was born in, and only
  there (so an unknown id reads a window, not the store). `store` is a frame store or
  frames in store order, read until the life ends. ValueError for an id no stored frame
  lists."""
  if not isinstance(cluster_id, str) or not cluster_id:
    raise ValueError("no cluster id given")
  born = born_at(cluster_id)
  frames = _ordered_frames(store, born)
  windows, end = [], None
  try:
    for frame in frames:
      cluster, where = next(((c, w) for c, w in _listed(frame) if c.get("id") == cluster_id),
                            (None, None))
      if cluster is None and not windows and born is not None and \
          frame.get("window_start", born) > born:
        break                     # not in the window it was born in: no such cluster
      if cluster is not None:
        windows.append(_entry(frame, cluster, where))
        windows[-1]["split_off"] = _successors(frame, cluster_id) if len(windows) > 1 else []
      elif windows:               # its life ended in the previous window
        into = _successors(frame, cluster_id)
        how = (MERGED if any(s["change"] == "merged" for s in into) else SPLIT) if into else (
            DISSOLVED if cluster_id in (frame.get("dissolved") or ()) else GONE)
        end = {"how": how, "frame": frame.get("id"), "window_start": frame.get("window_start"),
               "window_end": frame.get("window_end"), "into": into}
        break
  finally:
    close = getattr(frames, "close", None)     # a generator left part-read: end it now
    if close is not None:
      close()
  if not windows:
    raise ValueError(f"no cluster {cluster_id!r} in the store")
  if end is None:
    end = {"how": ALIVE, "frame": None, "window_start": None, "window_end": None, "into": []}
  largest = max(windows, key=lambda w: w["size"] or 0)
  return {"id": cluster_id, "windows": windows,
          "largest": {"size": largest["size"], "frame": largest["frame"]}, "end": end}


# ---- text ------------------------------------------------------------------------------

def _safe(text):
  """text with every character a terminal would act on shown escaped (logins are data)."""
  text = "-" if text is None else str(text)
  return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _utc(ms, with_date=True):
  if not isinstance(ms, (int, float)):
    return "?"
  return time.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M", time.gmtime(ms / 1000))


def _window(entry):
  return f"{_utc(entry['window_start'])}-{_utc(entry['window_end'], False)}"


def _names(clusters):
  return ", ".join(f"{_safe(c['id'])} ({c['shared']} shared)" for c in clusters)


def _note(entry, first):
  """What happened to the cluster in this window, beyond its size."""
  others = [s for s in entry["from"] if s["id"] != entry.get("id")]
  notes = []
  if first and entry["change"] == "split" and entry["from"]:
    notes.append("split from " + _names(entry["from"][:1]))
  elif first and entry["from"]:
    notes.append("from " + _names(entry["from"]))
  elif not first and others:
    notes.append("merged with " + _names(others))
  split = [s for s in entry["split_off"] if s["change"] == "split"]
  gave = [s for s in entry["split_off"] if s["change"] != "split"]
  if split:
    notes.append("split off " + _names(split))
  if gave:       # members that joined a cluster going on from another (a merge there)
    notes.append("members went to " + _names(gave))
  if entry.get("brokers"):
    notes.append("brokers " + ", ".join(
        f"{_safe(b['pair'][0])}-{_safe(b['pair'][1])} ({b['sides'][0]}+{b['sides'][1]})"
        for b in entry["brokers"]))
  return "; ".join(notes)


def render(life):
  """The text `pulse history` prints for cluster_history's answer."""
  windows, end = life["windows"], life["end"]
  largest = next(w for w in windows if w["frame"] == life["largest"]["frame"])
  lines = [f"cluster {_safe(life['id'])}: {len(windows)} window{'s' * (len(windows) != 1)} "
           f"from {_utc(windows[0]['window_start'])} UTC, largest {life['largest']['size']} "
           f"members ({_window(largest)})"]
  hubs = [_safe(w["hub"]) for w in windows]
  wide = max(3, *map(len, hubs))
  lines.append(f"  {'window (UTC)':<22}  {'size':>5}  {'change':<9}  {'hub':<{wide}}  notes")
  for n, (w, hub) in enumerate(zip(windows, hubs)):
    note = _note(dict(w, id=life["id"]), n == 0)
    lines.append(f"  {_window(w):<22}  {w['size'] if w['size'] is not None else '?':>5}  "
                 f"{_safe(w['change']):<9}  {hub:<{wide}}  {note}".rstrip())
  if end["how"] == ALIVE:
    lines.append(f"still alive at the store's last window ({_window(windows[-1])} UTC)")
  else:
    at = f"in the next window ({_window(end)} UTC)"
    merged = [s for s in end["into"] if s["change"] == "merged"]
    others = [s for s in end["into"] if s["change"] != "merged"]
    lines.append({
        DISSOLVED: f"dissolved: no successor {at}",
        MERGED: f"merged into {_names(merged)} {at}" + (
            f"; split off {_names(others)}" if others else ""),
        SPLIT: f"split into {_names(end['into'])} {at}",
        GONE: f"ended: not listed {at}, which records no successor (a window without "
              "edges between, or frames stored before lineage)",
    }[end["how"]])
  return "\n".join(lines)


def main(argv):
  parser = argparse.ArgumentParser(
      prog="pulse history", description="Print one cluster's life across the stored "
      "windows: its size, change, hub and broker links per window, what it merged with "
      "or split into, and how it ended (dissolved, merged into another, or still alive).")
  parser.add_argument("--sink", required=True, help="the store, e.g. sqlite:///tmp/f.db")
  parser.add_argument("--cluster", required=True,
                      help="the cluster's id, e.g. 1420115040000/alanchenvip")
  parser.add_argument("--json", action="store_true", help="print the history as JSON")
  args = parser.parse_args(argv)
  with open_store(args.sink, create=False) as store:
    life = cluster_history(store, args.cluster)
  text = json.dumps(life, ensure_ascii=False) if args.json else render(life)
  sys.stdout.write(text + "\n")
  return 0
