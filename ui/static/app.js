// Network Pulse live UI: the page's state, side panel, charts, timeline and live feed; the
// cluster graph is graph.js's (window.pulseGraph, loaded first). Everything from the data
// reaches the page as text (textContent, attributes, canvas labels), never as HTML.
(function () {
  "use strict";

  // The size distribution groups components by their SIZE (not by how many there are).
  const BUCKETS = [["2", 2, 2], ["3-4", 3, 4], ["5-9", 5, 9], ["10+", 10, Infinity]];

  const state = {
    summaries: [],        // every known frame's summary, ordered like the store
    full: new Map(),      // id -> whole frame, as fetched or pushed
    shown: null,          // the frame on screen
    live: true,           // show `head`, and every newer frame as it lands
    head: null,           // id: where the page opened (the server's pick), then the newest pushed
    unseen: 0,            // frames landed while paused
    connected: false,
    hovered: null,        // login under the pointer
    selected: null,       // login clicked
  };
  const $ = (id) => document.getElementById(id);

  function setText(node, value) {
    node.textContent = value == null ? "" : String(value);
    return node;
  }
  function make(tag, className, value) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (value != null) setText(node, value);
    return node;
  }
  const order = (a, b) => a.window_start - b.window_start || a.window_end - b.window_end ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const utc = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 16);
  const plotTime = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);

  // ---- graph (graph.js) ----------------------------------------------------------------
  const view = pulseGraph.create($("graph"),
                                 () => ({ hovered: state.hovered, selected: state.selected }));

  function drawGraph(frame) {
    view.draw(frame.clusters || []);
    if (state.hovered && !view.has(state.hovered)) state.hovered = null;
    if (state.selected && !view.has(state.selected)) state.selected = null;
    view.show();
  }

  // ---- side panel ----------------------------------------------------------------------
  function drawPanel() {
    const login = state.hovered || state.selected;
    const entry = login && view.clusterOf(login);
    const list = $("panel-members");
    list.replaceChildren();
    if (!entry) {
      setText($("panel-title"), "Hover or click a node");
      setText($("panel-node"), "");
      setText($("panel-cluster"), state.shown && (state.shown.clusters || []).length
          ? "Its login and its cluster's members show here." : "");
      return;
    }
    const { cluster, index } = entry;
    setText($("panel-title"), login === state.selected ? "Selected" : "Hovered");
    setText($("panel-node"), login);
    setText($("panel-cluster"), `cluster of ${cluster.size} (${(cluster.links || []).length} ` +
        `links), hub ${cluster.hub}`);
    for (const member of cluster.members) {
      const item = make("li", member === login ? "current" : "");
      item.setAttribute("data-login", member);
      const swatch = make("span", "swatch");
      swatch.style.background = view.colour(index);
      item.append(swatch, make("span", "login", member));
      if (member === cluster.hub) item.append(make("span", "tag", "hub"));
      list.append(item);
    }
  }

  function select(login) {
    state.selected = login && view.has(login) ? login : null;
    drawPanel();
    view.refocus();
  }

  function hover(login) {
    state.hovered = login;
    drawPanel();
    view.refocus();
  }
  view.on("enterNode", ({ node }) => hover(node));
  view.on("leaveNode", () => hover(null));
  view.on("clickNode", ({ node }) => select(node));
  view.on("clickStage", () => select(null));

  // ---- charts --------------------------------------------------------------------------
  const CHART = { displayModeBar: false, responsive: true };
  const FONT = { family: "system-ui, sans-serif", size: 12, color: "#1d2430" };

  function buckets(histogram) {
    const counts = BUCKETS.map(() => 0);
    for (const [size, count] of Object.entries(histogram || {})) {
      const s = Number(size);
      const i = BUCKETS.findIndex(([, lo, hi]) => s >= lo && s <= hi);
      if (i >= 0) counts[i] += Number(count);
    }
    return counts;
  }

  // A log count axis, each bar labelled with its count: one bar of 1 stays visible beside
  // 313 pairs, and an empty bucket reads 0.
  function drawSizes(frame) {
    const counts = buckets(frame ? frame.size_histogram : {});
    const names = BUCKETS.map((b) => b[0]), floor = 0.5;
    Plotly.react("chart-sizes", [{
      type: "bar", x: names, y: counts.map((n) => n || null), marker: { color: "#3949ab" },
      customdata: counts, hovertemplate: "size %{x}: %{customdata} components<extra></extra>",
    }], {
      font: FONT, margin: { l: 50, r: 12, t: 18, b: 40 },
      xaxis: { title: { text: "component size (members)" }, type: "category" },
      yaxis: { title: { text: "components (log)" }, type: "log", dtick: 1,
               range: [Math.log10(floor), Math.log10(Math.max(10, ...counts)) + 0.25] },
      // On a log axis annotations are placed by the log of the value.
      annotations: counts.map((n, i) => ({
        x: i, y: Math.log10(n || floor), yanchor: "bottom", showarrow: false,   // x: the i-th bar
        text: String(n), font: { size: 12, color: "#1d2430" },
      })),
    }, CHART);
  }

  // The time chart plots one slot per period: a window's frame, or nothing. Missing
  // windows leave empty slots, so the lines break there instead of crossing them; a
  // stretch of more than an hour without frames becomes a few slots only, marked with how
  // long it lasted, so hours years apart in one store each keep a readable width.
  const LONG_GAP = 3600e3, STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440];
  const lasted = (ms) => ms >= 2 * 86400e3 ? `${Math.round(ms / 86400e3).toLocaleString("en")} days`
      : ms >= 2 * 3600e3 ? `${Math.round(ms / 3600e3)} h` : `${Math.round(ms / 60e3)} min`;
  const day = (ms) => new Date(ms).toLocaleDateString("en", { timeZone: "UTC",
                                                              dateStyle: "medium" });

  function timeSlots(s) {
    let period = Infinity;
    for (let i = 1; i < s.length; i++) {
      const d = s[i].window_end - s[i - 1].window_end;
      if (d > 0) period = Math.min(period, d);
    }
    const slots = [], cuts = [], cutSlots = Math.max(3, Math.round(0.03 * s.length));
    const empty = (n) => { for (let k = 0; k < n; k++) slots.push({ x: `gap ${slots.length}` }); };
    s.forEach((f, i) => {
      const gap = i ? f.window_end - s[i - 1].window_end : 0;
      if (gap > LONG_GAP) {
        empty(Math.floor(cutSlots / 2));
        cuts.push({ x: `gap ${slots.length}`, text: lasted(gap) + " later" });
        empty(cutSlots - Math.floor(cutSlots / 2));
      } else if (gap > period) {
        empty(Math.round(gap / period) - 1);
      }
      slots.push({ x: plotTime(f.window_end), f, first: !i || gap > LONG_GAP });
    });
    // Ticks at round times, about one per 10% of the axis (or at the first window of a
    // stretch that has none); a date under the first of each stretch and wherever the day
    // changes.
    const step = 60e3 * (STEPS.find((m) => m * 60e3 >= slots.length * period / 10) || 1440);
    const framed = slots.filter((slot) => slot.f);
    const picked = new Set(framed.filter((slot) => !(slot.f.window_end % step)));
    for (let i = 1, start = 0; i <= framed.length; i++) {
      if (i < framed.length && !framed[i].first) continue;     // framed[start..i): a stretch
      if (!framed.slice(start, i).some((o) => picked.has(o))) picked.add(framed[start]);
      start = i;
    }
    let lastDay = null, fresh = false;
    const ticks = [];
    for (const slot of framed) {
      fresh = fresh || slot.first;
      if (!picked.has(slot)) continue;
      const d = day(slot.f.window_end);
      const date = fresh || d !== lastDay ? "<br>" + d : "";
      ticks.push([slot.x, utc(slot.f.window_end).slice(11) + date]);
      [lastDay, fresh] = [d, false];
    }
    return { slots, cuts, ticks };
  }

  function drawTime() {
    const { slots, cuts, ticks } = timeSlots(state.summaries);
    const x = slots.map((slot) => slot.x);
    // A window alone between empty slots has no line to show it: it gets a dot.
    const alone = slots.map((slot, i) => slot.f && !(slots[i - 1] || {}).f &&
        !(slots[i + 1] || {}).f ? 5 : 0);
    const line = (name, key, extra) => ({
      type: "scatter", mode: "lines+markers", name, x, connectgaps: false,
      y: slots.map((slot) => slot.f ? slot.f[key] : null),
      customdata: slots.map((slot) => slot.f ? slot.f.id : null),
      marker: { size: alone, color: extra.line.color }, ...extra,
    });
    const rule = (at, line) => ({ type: "line", xref: "x", yref: "paper", y0: 0, y1: 1,
                                  x0: at, x1: at, line });
    const shapes = cuts.map((c) => rule(c.x, { color: "#9aa5b5", width: 1, dash: "dash" }));
    if (state.shown) {
      shapes.push(rule(plotTime(state.shown.window_end),
                       { color: "#d98e04", width: 2, dash: "dot" }));
    }
    const annotations = cuts.map((c) => ({
      x: c.x, xref: "x", y: 1, yref: "paper", yanchor: "bottom", showarrow: false,
      text: c.text, font: { size: 11, color: "#6b7585" },
    }));
    Plotly.react("chart-time", [
      line("components", "components", { line: { color: "#1f77b4" } }),
      line("edges", "edges", { line: { color: "#7f7f7f" } }),
      line("largest cluster", "largest", { yaxis: "y2", line: { color: "#d62728" } }),
    ], {
      font: FONT, margin: { l: 50, r: 60, t: 18, b: 40 }, shapes, annotations,
      hovermode: "x unified",
      legend: { orientation: "h", x: 1, y: 1.08, yanchor: "bottom", xanchor: "right" },
      xaxis: { type: "category", tickmode: "array", tickvals: ticks.map((t) => t[0]),
               ticktext: ticks.map((t) => t[1]), tickangle: 0, showgrid: true,
               range: [-0.5, Math.max(0.5, slots.length - 0.5)] },
      yaxis: { title: { text: "components, edges" }, rangemode: "tozero" },
      yaxis2: { title: { text: "largest cluster" }, overlaying: "y", side: "right",
                rangemode: "tozero", showgrid: false, tickformat: "d", tickmode: "auto",
                nticks: 6 },
    }, CHART);
  }

  // ---- frames, timeline and live mode --------------------------------------------------
  function summarise(frame) {
    const sizes = Object.keys(frame.size_histogram || {}).map(Number);
    return { id: frame.id, window_start: frame.window_start, window_end: frame.window_end,
             edges: frame.edges, vertices: frame.vertices, components: frame.components,
             size_histogram: frame.size_histogram, largest: sizes.length ? Math.max(...sizes) : 0,
             clustered: (frame.clusters || []).reduce((n, c) => n + c.size, 0) };
  }

  function upsert(summary) {
    const s = state.summaries;
    const at = s.findIndex((f) => f.id === summary.id);
    if (at >= 0) s.splice(at, 1);
    let i = s.length;
    while (i > 0 && order(s[i - 1], summary) > 0) i--;
    s.splice(i, 0, summary);
  }

  async function fetchFrame(id) {
    if (!state.full.has(id)) {
      const response = await fetch("/api/frame?id=" + encodeURIComponent(id));
      if (!response.ok) throw new Error(`frame ${id}: HTTP ${response.status}`);
      state.full.set(id, await response.json());
    }
    return state.full.get(id);
  }

  async function showIndex(index) {
    const summary = state.summaries[index];
    if (!summary) return;
    show(await fetchFrame(summary.id));
  }

  function show(frame) {
    state.shown = frame;
    setText($("window-label"), `${utc(frame.window_start)} – ${utc(frame.window_end).slice(11)} UTC`);
    setText($("window-id"), `window ${frame.id}`);
    setText($("stat-edges"), frame.edges);
    setText($("stat-vertices"), frame.vertices);
    setText($("stat-components"), frame.components);
    setText($("stat-clusters"), (frame.clusters || []).length);
    setText($("stat-largest"), summarise(frame).largest);
    drawGraph(frame);
    drawPanel();
    drawSizes(frame);
    drawTime();
    drawTimeline();
  }

  function drawTimeline() {
    const n = state.summaries.length;
    const index = state.shown ? state.summaries.findIndex((f) => f.id === state.shown.id) : -1;
    const slider = $("slider");
    slider.max = String(Math.max(0, n - 1));
    slider.value = String(Math.max(0, index));
    slider.disabled = n < 2;
    $("prev").disabled = index <= 0;
    $("next").disabled = index < 0 || index >= n - 1;
    setText($("position"), n ? `window ${index + 1} of ${n}` +
        (state.unseen ? ` (${state.unseen} new)` : "") : "no frames stored yet");
    const mode = $("mode");
    mode.className = "badge " + (!state.connected ? "offline" : state.live ? "live" : "paused");
    setText(mode, !state.connected ? "offline" : state.live ? "live" : "paused");
    setText($("pause"), state.live ? "Pause" : "Resume");
    $("live").disabled = state.live;
  }

  function headIndex() {
    const at = state.summaries.findIndex((f) => f.id === state.head);
    return at >= 0 ? at : state.summaries.length - 1;
  }

  function setLive(live) {
    state.live = live;
    if (live) {
      state.unseen = 0;
      if (state.summaries.length) return showIndex(headIndex());
    }
    drawTimeline();
  }

  function step(to) {
    state.live = false;
    showIndex(Math.min(Math.max(0, to), state.summaries.length - 1));
  }

  $("pause").addEventListener("click", () => setLive(!state.live));
  $("live").addEventListener("click", () => setLive(true));
  $("slider").addEventListener("input", (e) => step(Number(e.target.value)));
  $("prev").addEventListener("click", () => step(Number($("slider").value) - 1));
  $("next").addEventListener("click", () => step(Number($("slider").value) + 1));

  function received(frame) {
    state.full.set(frame.id, frame);
    upsert(summarise(frame));
    const newest = state.summaries[state.summaries.length - 1];
    if (newest.id === frame.id) state.head = frame.id;
    if (state.live) {
      showIndex(headIndex());
    } else {
      state.unseen += 1;
      drawTime();
      drawTimeline();
    }
  }

  async function load() {
    const response = await fetch("/api/frames");
    const body = await response.json();
    for (const f of body.frames) upsert(f);
    // The server's pick: the newest window that holds clusters (not a run's fading tail).
    if (body.open && state.head === null) state.head = body.open;
    if (state.live && state.summaries.length) await showIndex(headIndex());
    else { drawTime(); drawTimeline(); }
  }

  const socket = io({ transports: ["websocket", "polling"] });
  socket.on("connect", () => { state.connected = true; load(); });
  socket.on("disconnect", () => { state.connected = false; drawTimeline(); });
  socket.on("frame", received);

  drawSizes(null);
  drawTime();
  drawTimeline();
  drawPanel();
  $("chart-time").on("plotly_click", (event) => {
    const id = event.points && event.points[0] && event.points[0].customdata;
    const index = state.summaries.findIndex((f) => f.id === id);
    if (index >= 0) step(index);
  });

  // Read-only hooks for tests and the console.
  window.pulse = Object.freeze({
    state: () => ({
      frameId: state.shown && state.shown.id,
      frames: state.summaries.length,
      live: state.live,
      connected: state.connected,
      nodes: view.order(),
      edges: view.size(),
      clusterSizes: state.shown ? (state.shown.clusters || []).map((c) => c.size) : [],
      selected: state.selected,
      panelLogin: $("panel-node").textContent,
      panelMembers: [...document.querySelectorAll("#panel-members .login")].map((n) => n.textContent),
      buckets: state.shown ? buckets(state.shown.size_histogram) : null,
    }),
    // Where a node is drawn, in CSS pixels from the graph container's top-left.
    nodePosition: (login) => view.nodePosition(login),
    clickNode: (login) => select(login),   // what a click on that node does
    // The drawing as rendered: px per layout unit, each cluster's nodes as drawn (CSS px
    // from the graph container's top-left, colour), the label boxes of the last render.
    drawing: () => view.drawing(state.shown ? state.shown.clusters || [] : []),
  });
})();
