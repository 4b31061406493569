// Network Pulse lineage: a selected cluster's history (its size per window since birth, a
// small Plotly chart, and where it came from, merged, split and ended: each other cluster
// a link to the window and cluster) and the shown window's changes (born, merged, split,
// dissolved; largest first). Loaded after graph.js and before app.js, which owns the
// page's state, fetches /api/history and calls pulseLineage.create. Everything from the
// data goes in as text (textContent, attributes), never as HTML.
(function () {
  "use strict";

  const KINDS = ["merged", "split", "born", "dissolved"];    // ties in size: this order
  const MARK = { born: "#1a9850", split: "#00897b", merged: "#6a1b9a" };
  const KNOWN = new Set(["born", "continued", "merged", "split"]);
  const hhmm = (ms) => new Date(ms).toISOString().slice(11, 16);
  const plotTime = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);
  const span = (w) => `${hhmm(w.window_start)}–${hhmm(w.window_end)}`;

  function make(tag, className, value) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (value != null) node.textContent = String(value);
    return node;
  }

  // A cluster's name: the first member its id was born with and when ("erin 12:03"); an
  // id of a frame stored before lineage is a login, shown whole.
  function nameOf(id) {
    const text = String(id), at = pulseGraph.bornAt(text);
    return Number.isFinite(at) ? { name: text.slice(text.indexOf("/") + 1), born: hhmm(at) }
                               : { name: text, born: "" };
  }

  // Its name after a dot of its colour in the graph, or a grey ring where the shown window
  // does not draw it (colour null).
  function nameNode(id, colour) {
    const { name, born } = nameOf(id), node = make("span", "cluster-name");
    node.setAttribute("title", String(id));
    const swatch = make("span", colour ? "swatch" : "swatch undrawn");
    if (colour) swatch.style.background = colour;
    node.append(swatch, make("span", "name", name));
    if (born) node.append(make("span", "born muted", born));
    return node;
  }

  const listed = (frame) => frame ? [...(frame.clusters || []), ...(frame.more_clusters || [])]
                                  : [];

  // The window's changes, largest first: clusters born, merged or split in it, and those of
  // the previous window (`previous`, when known: it gives their sizes) that dissolved.
  function changes(frame, previous) {
    const out = [];
    for (const c of listed(frame)) {
      if (c.change === "born" || c.change === "merged" || c.change === "split") {
        const from = Array.isArray(c.from) ? c.from.filter((f) => f && typeof f === "object") : [];
        out.push({ kind: c.change, id: c.id, size: c.size, from });
      }
    }
    const before = new Map(listed(previous).map((c) => [c.id, c.size]));
    for (const id of frame && Array.isArray(frame.dissolved) ? frame.dissolved : []) {
      out.push({ kind: "dissolved", id, size: before.has(id) ? before.get(id) : null, from: [] });
    }
    return out.sort((a, b) => (b.size || 0) - (a.size || 0) ||
        KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  // The lineage parts of the page. `page` gives: colourOf(id) (as drawn; null: not drawn
  // in the shown window), go(frameId, clusterId) (show
  // that window with that cluster selected), pick(id) (select a cluster of the shown
  // window), frameBefore(frameId) (the id of the stored window before, or null).
  function create(page) {
    const $ = (id) => document.getElementById(id);
    let chartReady = false, drawn = null;      // drawn: the life on show, for the chart's clicks

    // A button naming another cluster, (n shared) after it (compact: (n)): click to go to
    // `frame` with it.
    function link(ref, frame, compact) {
      const button = make("button", "link");
      button.type = "button";
      button.setAttribute("data-cluster", String(ref.id));
      if (frame) button.setAttribute("data-frame", frame);
      button.disabled = !frame;
      button.append(nameNode(ref.id, page.colourOf(ref.id)));
      if (ref.shared != null) {
        button.append(make("span", "muted",
                           compact ? ` (${ref.shared})` : ` (${ref.shared} shared)`));
        if (compact) button.setAttribute("title", `${ref.id}: ${ref.shared} members shared`);
      }
      button.addEventListener("click", () => page.go(frame, ref.id));
      return button;
    }

    // What happened, in order: {window, what, refs, frame (where refs are)}.
    function events(life) {
      const w = life.windows, first = w[0], end = life.end, out = [];
      const before = (entry) => page.frameBefore(entry.frame);
      if (first.change === "split" && first.from.length) {
        out.push({ at: first, what: "split from", refs: first.from.slice(0, 1),
                   frame: before(first) });
      } else if (first.from.length) {
        out.push({ at: first, what: first.change === "merged" ? "formed by merging" : "came from",
                   refs: first.from, frame: before(first) });
      } else {
        out.push({ at: first, what: first.change === "born" ? "born" : "first seen", refs: [] });
      }
      w.forEach((entry, i) => {
        const others = i ? entry.from.filter((f) => f.id !== life.id) : [];
        if (others.length) {
          out.push({ at: entry, what: "merged with", refs: others, frame: before(entry) });
        }
        // Those that took members while it went on: split off it, or went on from another.
        const off = entry.split_off || [];
        const split = off.filter((s) => s.change === "split");
        const gave = off.filter((s) => s.change !== "split");
        if (split.length) {
          out.push({ at: entry, what: "split off", refs: split, frame: entry.frame });
        }
        if (gave.length) {
          out.push({ at: entry, what: "members went to", refs: gave, frame: entry.frame });
        }
      });
      const into = end.into || [], merged = into.filter((s) => s.change === "merged");
      if (end.how === "alive") {
        out.push({ at: w[w.length - 1], what: "still alive at the last stored window", refs: [] });
      } else if (end.how === "dissolved") {
        out.push({ at: end, what: "dissolved: no successor", refs: [] });
      } else if (end.how === "merged") {
        out.push({ at: end, what: "merged into", refs: merged, frame: end.frame });
        const rest = into.filter((s) => s.change !== "merged");
        if (rest.length) out.push({ at: end, what: "and split off", refs: rest, frame: end.frame });
      } else if (end.how === "split") {
        out.push({ at: end, what: "split into", refs: into, frame: end.frame });
      } else {
        out.push({ at: end, what: "ended: the next stored window records no successor", refs: [] });
      }
      return out;
    }

    // Round-minute ticks, at most about 5 (Plotly alone ticks a short life in seconds, so
    // one minute shows several times), the date too where the life spans days.
    const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080];
    function timeAxis(w) {
      const first = w[0].window_end, last = w[w.length - 1].window_end, span = last - first;
      const step = STEPS.find((m) => span / (m * 60e3) <= 5) || 40320;
      const pad = Math.max(30e3, 0.04 * span);
      return { type: "date", tickmode: "linear", dtick: step * 60e3, tick0: "2000-01-01",
               tickformat: span > 86400e3 ? "%b %d %H:%M" : "%H:%M",
               range: [plotTime(first - pad), plotTime(last + pad)] };
    }

    function drawChart(life, shownId) {
      const w = life.windows, colour = page.colourOf(life.id) || "#6b7585";
      const shown = w.find((e) => e.frame === shownId);
      const shapes = shown ? [{ type: "line", xref: "x", yref: "paper", y0: 0, y1: 1,
                                x0: plotTime(shown.window_end), x1: plotTime(shown.window_end),
                                line: { color: "#d98e04", width: 2, dash: "dot" } }] : [];
      Plotly.react("history-chart", [{
        type: "scatter", mode: "lines+markers", x: w.map((e) => plotTime(e.window_end)),
        y: w.map((e) => Number(e.size)), customdata: w.map((e) => e.frame),
        // Plotly reads some tags in hover text: only numbers, times and known words go in.
        text: w.map((e) => `${span(e)} UTC: ${Number(e.size)} members, ` +
                           (KNOWN.has(e.change) ? e.change : "-")),
        hovertemplate: "%{text}<extra></extra>", line: { color: colour, width: 2 },
        marker: { size: w.map((e) => KNOWN.has(e.change) && MARK[e.change] ? 8 : 5),
                  color: w.map((e) => KNOWN.has(e.change) && MARK[e.change] || colour) },
      }], {
        font: { family: "system-ui, sans-serif", size: 11, color: "#1d2430" },
        margin: { l: 34, r: 8, t: 6, b: 26 }, shapes, showlegend: false, hovermode: "closest",
        xaxis: timeAxis(w),
        yaxis: { rangemode: "tozero", tickformat: "d", nticks: 4 },
      }, { displayModeBar: false, responsive: true });
      if (!chartReady) {
        chartReady = true;
        $("history-chart").on("plotly_click", (event) => {
          const point = event.points && event.points[0];
          if (point && drawn) page.go(point.customdata, drawn.id);
        });
      }
    }

    // The history of life (cluster_history's answer), the shown window marked.
    function drawHistory(life, shownId) {
      const section = $("history");
      drawn = life;
      section.hidden = false;
      $("history-name").replaceChildren(nameNode(life.id, page.colourOf(life.id)));
      const w = life.windows;
      $("history-summary").textContent = `${w.length} window${w.length === 1 ? "" : "s"} ` +
          `from ${span(w[0])} UTC, largest ${life.largest.size} members; its size by window end:`;
      drawChart(life, shownId);
      const list = $("history-events");
      list.replaceChildren();
      for (const e of events(life)) {
        const item = make("li", e.at.frame === shownId ? "current" : "");
        item.setAttribute("data-what", e.what);
        const when = make("button", "link when", span(e.at));
        when.type = "button";
        when.setAttribute("data-frame", e.at.frame || "");
        when.disabled = !e.at.frame;
        // The window where it is no more shows without it; its own windows, with it.
        when.addEventListener("click", () => page.go(e.at.frame, life.id));
        item.append(when, make("span", "what", " " + e.what + " "));
        e.refs.forEach((ref, i) => {
          if (i) item.append(make("span", "", ", "));
          item.append(link(ref, e.frame));
        });
        list.append(item);
      }
    }

    function hideHistory() {
      drawn = null;
      $("history").hidden = true;
    }

    // The changes of the shown window (changes()), the selected cluster marked.
    function drawChanges(items, frame, selected) {
      const list = $("changes");
      list.replaceChildren();
      $("changes-empty").hidden = items.length > 0;
      for (const item of items) {
        const li = make("li", item.id === selected ? "current" : "");
        li.setAttribute("data-kind", item.kind);
        li.setAttribute("data-cluster", String(item.id));
        const button = make("button", "link");
        button.type = "button";
        // A dissolved cluster is shown in the window before, where it still was.
        const where = item.kind === "dissolved" ? page.frameBefore(frame.id) : frame.id;
        button.disabled = !where;
        button.append(make("span", "kind kind-" + item.kind, item.kind),
                      nameNode(item.id, page.colourOf(item.id)),
                      make("span", "size", item.size == null ? "" : String(item.size)));
        button.addEventListener("click", () => (where === frame.id ? page.pick(item.id)
                                                                   : page.go(where, item.id)));
        li.append(button);
        // Merged and kept its id: with the others; merged anew or split: from them.
        const kept = item.from.length && item.from[0].id === item.id;
        const others = item.kind === "merged" ? item.from.filter((f) => f.id !== item.id)
            : item.kind === "split" ? item.from.slice(0, 1) : [];
        if (others.length) {
          const from = make("div", "from muted", kept ? "with " : "from ");
          others.forEach((f, i) => {
            if (i) from.append(make("span", "", ", "));
            from.append(link(f, page.frameBefore(frame.id), true));
          });
          li.append(from);
        }
        list.append(li);
      }
    }

    return Object.freeze({ drawHistory, hideHistory, drawChanges, events });
  }

  window.pulseLineage = Object.freeze({ create, changes, nameOf, nameNode, listed });
})();
