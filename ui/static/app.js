// Network Pulse live UI. Everything from the data reaches the page as text (textContent,
// attributes, canvas labels), never as HTML.
(function () {
  "use strict";

  // The size distribution groups components by their SIZE (not by how many there are).
  const BUCKETS = [["2", 2, 2], ["3-4", 3, 4], ["5-9", 5, 9], ["10+", 10, Infinity]];
  const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#17becf",
                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#3949ab", "#00897b"];
  const DIM = "#e3e7ed";

  const state = {
    summaries: [],        // every known frame's summary, ordered like the store
    full: new Map(),      // id -> whole frame, as fetched or pushed
    shown: null,          // the frame on screen
    live: true,           // follow the newest frame
    unseen: 0,            // frames landed while paused
    connected: false,
    hovered: null,        // login under the pointer
    selected: null,       // login clicked
  };
  const clusterOf = new Map();   // login -> {cluster, index} of the shown frame
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
  const colour = (index) => PALETTE[index % PALETTE.length];
  const order = (a, b) => a.window_start - b.window_start || a.window_end - b.window_end ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const utc = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 16);
  const plotTime = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);

  // ---- graph ---------------------------------------------------------------------------
  const graph = new graphology.Graph({ type: "undirected", multi: false, allowSelfLoops: false });
  const renderer = new Sigma(graph, $("graph"), {
    labelRenderedSizeThreshold: 7,
    labelDensity: 0.4,
    labelFont: "system-ui, sans-serif",
    labelSize: 12,
    zIndex: true,
    zoomToSizeRatioFunction: () => 1,   // node sizes in screen pixels at any zoom
    nodeReducer: (node, data) => {
      const focus = focusCluster();
      if (focus === null) return data;
      if (data.cluster !== focus) return { ...data, color: DIM, label: null, zIndex: 0 };
      return { ...data, forceLabel: data.hub || node === state.hovered || node === state.selected,
               highlighted: node === state.selected, zIndex: 2 };
    },
    edgeReducer: (edge, data) => {
      const focus = focusCluster();
      if (focus === null || data.cluster === focus) return data;
      return { ...data, color: "#f0f2f5" };
    },
  });

  function focusCluster() {
    const login = state.hovered || state.selected;
    const entry = login && clusterOf.get(login);
    return entry ? entry.index : null;
  }

  // Each cluster a sunflower disc round its hub (best-linked members nearest); the discs
  // packed in rows, largest first, in a box shaped like the canvas.
  function layout(clusters, aspect) {
    const discs = clusters.map((c) => ({ c, r: 0.9 * Math.sqrt(c.size) + 0.6 }));
    const area = discs.reduce((s, d) => s + (2 * d.r + 1) ** 2, 0);
    const widest = discs.reduce((m, d) => Math.max(m, 2 * d.r), 0);
    const width = Math.max(widest, 1.2 * Math.sqrt(area * aspect));   // rows come out short
    const spots = new Map();
    let x = 0, y = 0, rowHeight = 0;
    for (const d of discs) {
      if (x > 0 && x + 2 * d.r > width) { y -= rowHeight + 1; x = 0; rowHeight = 0; }
      const cx = x + d.r, cy = y - d.r;
      x += 2 * d.r + 1;
      rowHeight = Math.max(rowHeight, 2 * d.r);
      const degree = new Map(d.c.members.map((m) => [m, 0]));
      for (const l of d.c.links || []) {
        if (degree.has(l.src)) degree.set(l.src, degree.get(l.src) + 1);
        if (degree.has(l.dst)) degree.set(l.dst, degree.get(l.dst) + 1);
      }
      const members = [...d.c.members].sort((a, b) =>
          (b === d.c.hub) - (a === d.c.hub) || degree.get(b) - degree.get(a) ||
          (a < b ? -1 : 1));
      members.forEach((m, i) => {
        const radius = 0.9 * Math.sqrt(i), angle = i * 2.39996;
        spots.set(m, [cx + radius * Math.cos(angle), cy + radius * Math.sin(angle)]);
      });
    }
    return spots;
  }

  // Zoom so the clusters fill the canvas, but never beyond MAX_PX_PER_UNIT, so a window of
  // two small clusters is drawn at the scale of a busy one rather than blown up.
  const MAX_PX_PER_UNIT = 26, PAD = 28, LABEL_ROOM = 90;
  function fit() {
    if (!graph.order) return renderer.getCamera().setState({ x: 0.5, y: 0.5, ratio: 1, angle: 0 });
    const home = { cameraState: { x: 0.5, y: 0.5, ratio: 1, angle: 0 } };
    const xs = [], ys = [], units = [];
    graph.forEachNode((node, attrs) => {
      const p = renderer.framedGraphToViewport(renderer.getNodeDisplayData(node), home);
      xs.push(p.x); ys.push(p.y); units.push(attrs.x);
    });
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const { width, height } = renderer.getDimensions();
    const pxPerUnit = (x1 - x0) / Math.max(1e-9, Math.max(...units) - Math.min(...units));
    const zoom = Math.min((width - 2 * PAD - LABEL_ROOM) / Math.max(1, x1 - x0),
                          (height - 2 * PAD) / Math.max(1, y1 - y0),
                          MAX_PX_PER_UNIT / Math.max(1e-9, pxPerUnit));
    // Centre on the drawing (a little left of it, leaving room for the hubs' labels).
    const centre = renderer.viewportToFramedGraph(
        { x: (x0 + x1) / 2 + LABEL_ROOM / 2 / zoom, y: (y0 + y1) / 2 }, home);
    renderer.getCamera().setState({ x: centre.x, y: centre.y, ratio: 1 / zoom, angle: 0 });
  }
  window.addEventListener("resize", () => setTimeout(fit, 50));

  function drawGraph(frame) {
    graph.clear();
    clusterOf.clear();
    const clusters = frame.clusters || [];
    const box = $("graph").getBoundingClientRect();
    const spots = layout(clusters, Math.max(0.5, box.width / Math.max(1, box.height)));
    clusters.forEach((c, index) => {
      for (const login of c.members) {
        if (graph.hasNode(login)) continue;   // clusters are disjoint; be safe anyway
        clusterOf.set(login, { cluster: c, index });
        const [x, y] = spots.get(login);
        const hub = login === c.hub;
        graph.addNode(login, {
          x, y, label: login, cluster: index, hub, color: colour(index),
          size: hub ? 9 : 4.5, forceLabel: hub && index < 6, zIndex: hub ? 1 : 0,
        });
      }
      for (const l of c.links || []) {
        if (l.src === l.dst || !graph.hasNode(l.src) || !graph.hasNode(l.dst)) continue;
        if (!graph.hasEdge(l.src, l.dst)) {
          graph.addEdge(l.src, l.dst, { cluster: index, color: colour(index) + "88", size: 1.5 });
        }
      }
    });
    $("graph").parentElement.classList.toggle("is-empty", clusters.length === 0);
    if (state.hovered && !graph.hasNode(state.hovered)) state.hovered = null;
    if (state.selected && !graph.hasNode(state.selected)) state.selected = null;
    renderer.refresh();
    fit();
  }

  // ---- side panel ----------------------------------------------------------------------
  function drawPanel() {
    const login = state.hovered || state.selected;
    const entry = login && clusterOf.get(login);
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
      swatch.style.background = colour(index);
      item.append(swatch, make("span", "login", member));
      if (member === cluster.hub) item.append(make("span", "tag", "hub"));
      list.append(item);
    }
  }

  function select(login) {
    state.selected = login && graph.hasNode(login) ? login : null;
    drawPanel();
    renderer.refresh({ skipIndexation: true });
  }

  renderer.on("enterNode", ({ node }) => {
    state.hovered = node;
    drawPanel();
    renderer.refresh({ skipIndexation: true });
  });
  renderer.on("leaveNode", () => {
    state.hovered = null;
    drawPanel();
    renderer.refresh({ skipIndexation: true });
  });
  renderer.on("clickNode", ({ node }) => select(node));
  renderer.on("clickStage", () => select(null));

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

  function drawSizes(frame) {
    const counts = buckets(frame ? frame.size_histogram : {});
    Plotly.react("chart-sizes", [{
      type: "bar", x: BUCKETS.map((b) => b[0]), y: counts, text: counts.map(String),
      textposition: "auto", marker: { color: "#3949ab" },
      hovertemplate: "size %{x}: %{y} components<extra></extra>",
    }], {
      font: FONT, margin: { l: 50, r: 12, t: 10, b: 40 },
      xaxis: { title: { text: "component size (members)" }, type: "category" },
      yaxis: { title: { text: "components" }, rangemode: "tozero" },
    }, CHART);
  }

  function drawTime() {
    const s = state.summaries;
    const x = s.map((f) => plotTime(f.window_end));
    const line = (name, key, extra) => ({
      type: "scatter", mode: s.length > 1 ? "lines" : "markers", name, x,
      y: s.map((f) => f[key]), customdata: s.map((f) => f.id), ...extra,
    });
    const shapes = state.shown ? [{
      type: "line", xref: "x", yref: "paper", y0: 0, y1: 1,
      x0: plotTime(state.shown.window_end), x1: plotTime(state.shown.window_end),
      line: { color: "#d98e04", width: 2, dash: "dot" },
    }] : [];
    Plotly.react("chart-time", [
      line("components", "components", { line: { color: "#1f77b4" } }),
      line("edges", "edges", { line: { color: "#7f7f7f" } }),
      line("largest cluster", "largest", { yaxis: "y2", line: { color: "#d62728" } }),
    ], {
      font: FONT, margin: { l: 50, r: 60, t: 10, b: 30 }, shapes, hovermode: "x unified",
      legend: { orientation: "h", x: 1, y: 1.02, yanchor: "bottom", xanchor: "right" },
      xaxis: { type: "date" },
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
             size_histogram: frame.size_histogram, largest: sizes.length ? Math.max(...sizes) : 0 };
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

  function setLive(live) {
    state.live = live;
    if (live) {
      state.unseen = 0;
      if (state.summaries.length) return showIndex(state.summaries.length - 1);
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
    if (state.live) {
      show(state.full.get(newest.id) || frame);
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
    if (state.live && state.summaries.length) await showIndex(state.summaries.length - 1);
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
      nodes: graph.order,
      edges: graph.size,
      clusterSizes: state.shown ? (state.shown.clusters || []).map((c) => c.size) : [],
      selected: state.selected,
      panelLogin: $("panel-node").textContent,
      panelMembers: [...document.querySelectorAll("#panel-members .login")].map((n) => n.textContent),
      buckets: state.shown ? buckets(state.shown.size_histogram) : null,
    }),
    // Where a node is drawn, in CSS pixels from the graph container's top-left.
    nodePosition: (login) => {
      const data = renderer.getNodeDisplayData(login);
      return data ? renderer.framedGraphToViewport(data) : null;
    },
    clickNode: (login) => select(login),   // what a click on that node does
  });
})();
