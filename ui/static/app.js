// Network Pulse live UI: the page's state, side panel, timeline and live feed; the cluster
// graph is graph.js's (window.pulseGraph), the charts charts.js's (window.pulseCharts), a
// cluster's history and the window's changes lineage.js's (window.pulseLineage), all
// loaded first. Everything from the data
// reaches the page as text (textContent, attributes, canvas labels), never as HTML.
(function () {
  "use strict";

  // The page holds every window's summary (a week: 10,080 of them) but only the CACHED
  // whole frames it showed or was pushed last; any other is fetched when shown.
  const CACHED = 32, HISTORIES = 16;
  const state = {
    summaries: [],        // every known frame's summary, ordered like the store
    at: new Map(),        // id -> its index in summaries
    revision: 0,          // bumped whenever summaries change (the time chart redraws)
    full: new Map(),      // id -> whole frame, least recently used first (at most CACHED)
    shown: null,          // the frame on screen
    live: true,           // show `head`, and every newer frame as it lands
    head: null,           // id: where the page opened (the server's pick), then the newest pushed
    unseen: 0,            // frames landed while paused
    connected: false,
    hovered: null,        // login under the pointer
    selected: null,       // login clicked
    cluster: null,        // id of the selected cluster (of the login clicked, or picked)
    histories: new Map(), // cluster id -> its history (/api/history), until a frame lands
  };
  const indexOf = (id) => { const at = state.at.get(id); return at === undefined ? -1 : at; };
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

  const listed = pulseLineage.listed;
  const findCluster = (frame, id) => listed(frame).find((c) => c.id === id) || null;
  function drawnIndex(id) {     // the selected cluster's index in the graph, or null
    const at = id === null || !state.shown ? -1
        : (state.shown.clusters || []).findIndex((c) => c.id === id);
    return at >= 0 ? at : null;
  }

  // ---- graph (graph.js) ----------------------------------------------------------------
  const view = pulseGraph.create($("graph"), () => ({
    hovered: state.hovered, selected: state.selected, cluster: drawnIndex(state.cluster) }));

  // A selected cluster stays selected in every window that lists its id (the login
  // clicked with it, while it is still a member); once it is gone, a login clicked that is
  // still drawn selects the cluster it is in now.
  function drawGraph(frame) {
    view.draw(frame.clusters || []);
    if (state.hovered && !view.has(state.hovered)) state.hovered = null;
    const entry = state.selected && view.has(state.selected) ? view.clusterOf(state.selected)
                                                              : null;
    if (state.cluster !== null && findCluster(frame, state.cluster)) {
      if (!entry || entry.cluster.id !== state.cluster) state.selected = null;
    } else if (entry) {
      state.cluster = entry.cluster.id;
    } else {
      state.selected = state.cluster = null;
    }
    view.show();
  }

  // ---- side panel ----------------------------------------------------------------------
  function drawPanel() {
    const login = state.hovered || state.selected;
    const entry = login && view.clusterOf(login);
    const picked = !entry && state.cluster !== null && findCluster(state.shown, state.cluster);
    const list = $("panel-members");
    list.replaceChildren();
    if (!entry && !picked) {
      drawBrokers([]);
      setText($("panel-title"), "Hover or click a node");
      setText($("panel-node"), "");
      setText($("panel-cluster"), state.shown && (state.shown.clusters || []).length
          ? "Its login, its cluster's members and history show here." : "");
      return;
    }
    const cluster = entry ? entry.cluster : picked;
    const name = pulseLineage.nameOf(cluster.id), drawn = drawnIndex(cluster.id) !== null;
    setText($("panel-title"), !entry ? "Selected cluster"
        : login === state.selected ? "Selected" : "Hovered");
    setText($("panel-node"), entry ? login : name.name);
    const born = name.born ? ` (born ${name.born})` : "";
    const which = entry ? `cluster ${name.name}${born}: ` : born ? `born ${name.born}: ` : "";
    setText($("panel-cluster"), `${which}${cluster.size} members, ` +
        (drawn ? `${(cluster.links || []).length} links, hub ${cluster.hub}`
               : "hub - (not drawn: beyond the largest shown)"));
    const colour = view.colourOf(cluster.id);
    for (const member of cluster.members) {
      const item = make("li", member === login ? "current" : "");
      item.setAttribute("data-login", member);
      const swatch = make("span", colour ? "swatch" : "swatch undrawn");
      if (colour) swatch.style.background = colour;
      item.append(swatch, make("span", "login", member));
      if (drawn && member === cluster.hub) item.append(make("span", "tag", "hub"));
      list.append(item);
    }
    drawBrokers(drawn ? pulseGraph.brokers(cluster) : []);
  }

  // The cluster's broker links: the pair, and the members on either side.
  function drawBrokers(brokers) {
    const list = $("panel-brokers");
    list.replaceChildren(...brokers.map(({ pair, sides }) => {
      const item = make("li");
      item.setAttribute("data-pair", pair.join(" "));
      item.append(make("span", "login", `${pair[0]} \u2013 ${pair[1]}`),
                  make("span", "muted", ` joins ${sides[0]} + ${sides[1]}`));
      return item;
    }));
    $("brokers").hidden = brokers.length === 0;
  }

  // ---- lineage (lineage.js): the selected cluster's history, the window's changes ------
  const lineage = pulseLineage.create({
    colourOf: (id) => view.colourOf(id),
    go: (frameId, clusterId) => goTo(frameId, clusterId),
    pick: (id) => pick(id),
    frameBefore: (frameId) => {
      const at = indexOf(frameId);
      return at > 0 ? state.summaries[at - 1].id : null;
    },
  });
  let historyAsked = 0;

  async function drawHistory() {
    const id = state.cluster, shown = state.shown;
    if (id === null || !shown) return lineage.hideHistory();
    let life = state.histories.get(id);
    if (!life || !life.windows.some((w) => w.frame === shown.id)) {
      const asked = ++historyAsked;
      try {
        const response = await fetch("/api/history?id=" + encodeURIComponent(id));
        if (!response.ok) throw new Error(`history: HTTP ${response.status}`);
        life = await response.json();
      } catch (error) {
        if (asked === historyAsked) lineage.hideHistory();
        return;
      }
      if (asked !== historyAsked) return;        // another was asked for since
      state.histories.set(id, life);
      if (state.histories.size > HISTORIES) state.histories.delete(state.histories.keys().next().value);
    }
    if (state.cluster === id && state.shown === shown) lineage.drawHistory(life, shown.id);
  }

  async function drawChanges() {
    const frame = state.shown;
    if (!frame) return;
    let previous = null;          // the window before: the sizes of those that dissolved
    const before = (frame.dissolved || []).length && state.summaries[indexOf(frame.id) - 1];
    if (before) {
      try { previous = await fetchFrame(before.id); } catch (error) { previous = null; }
    }
    if (state.shown === frame) {
      lineage.drawChanges(pulseLineage.changes(frame, previous), frame, state.cluster);
    }
  }

  function selectionChanged() {
    drawPanel();
    view.refocus();
    drawHistory();
    drawChanges();
  }

  function select(login) {
    state.selected = login && view.has(login) ? login : null;
    state.cluster = state.selected ? view.clusterOf(state.selected).cluster.id : null;
    selectionChanged();
  }

  function pick(id) {           // a cluster of the shown window, by id
    state.selected = null;
    state.cluster = findCluster(state.shown, id) ? id : null;
    selectionChanged();
  }

  // Shows the stored window frameId, paused, with the cluster clusterId selected.
  async function goTo(frameId, clusterId) {
    const index = indexOf(frameId);
    if (index < 0) return;
    state.live = false;
    state.selected = null;
    state.cluster = clusterId;
    await showIndex(index);
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

  // ---- charts (charts.js) ---------------------------------------------------------------
  const drawSizes = (frame) => pulseCharts.drawSizes(frame);
  const drawTime = () => pulseCharts.drawTime(state.summaries, state.shown, state.revision);

  // ---- frames, timeline and live mode --------------------------------------------------
  // A frame's summary, as the server makes it (io/stores/base.frame_summary).
  function summarise(frame) {
    const sizes = Object.keys(frame.size_histogram || {}).map(Number);
    return { id: frame.id, window_start: frame.window_start, window_end: frame.window_end,
             edges: frame.edges, vertices: frame.vertices, components: frame.components,
             largest: sizes.length ? Math.max(...sizes) : 0,
             clustered: (frame.clusters || []).reduce((n, c) => n + c.size, 0) };
  }

  function reindex() {
    state.at = new Map(state.summaries.map((f, i) => [f.id, i]));
    state.revision += 1;
  }

  function upsert(summary) {
    const s = state.summaries, at = indexOf(summary.id);
    if (at >= 0) s.splice(at, 1);
    let lo = 0, hi = s.length;        // the first place after every summary ordered before it
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (order(s[mid], summary) <= 0) lo = mid + 1; else hi = mid;
    }
    s.splice(lo, 0, summary);
    reindex();
  }

  // The whole-frame cache: a Map in use order, the least recently used dropped first.
  function remember(frame) {
    state.full.delete(frame.id);
    state.full.set(frame.id, frame);
    while (state.full.size > CACHED) state.full.delete(state.full.keys().next().value);
  }

  const fetching = new Map();         // id -> the fetch on its way (asked once)
  async function fetchFrame(id) {
    const kept = state.full.get(id);
    if (kept) {
      remember(kept);
      return kept;
    }
    if (!fetching.has(id)) {
      fetching.set(id, (async () => {
        try {
          const response = await fetch("/api/frame?id=" + encodeURIComponent(id));
          if (!response.ok) throw new Error(`frame ${id}: HTTP ${response.status}`);
          const frame = await response.json();
          remember(frame);
          return frame;
        } finally {
          fetching.delete(id);
        }
      })());
    }
    return fetching.get(id);
  }

  let showAsked = 0;
  async function showIndex(index) {   // the newest call wins, whichever fetch ends first
    const summary = state.summaries[index], asked = ++showAsked;
    if (!summary) return;
    const frame = await fetchFrame(summary.id);
    if (asked === showAsked) show(frame);
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
    drawHistory();
    drawChanges();
    drawSizes(frame);
    drawTime();
    drawTimeline();
  }

  function drawTimeline() {
    const n = state.summaries.length;
    const index = state.shown ? indexOf(state.shown.id) : -1;
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
    const at = indexOf(state.head);
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
    remember(frame);
    state.histories.clear();      // a new or rewritten window may lengthen any history
    const summary = summarise(frame);
    if (pushed) pushed.push(summary);
    upsert(summary);
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

  let pushed = null;                  // summaries pushed while /api/frames is on its way
  async function load() {
    const during = pushed = [];
    let body;
    try {
      body = await (await fetch("/api/frames")).json();
    } finally {
      pushed = null;
    }
    state.summaries = body.frames;    // in store order, as the server keeps them
    reindex();
    for (const f of during) upsert(f);
    // The server's pick: the newest window that holds clusters (not a run's fading tail).
    if (body.open && state.head === null) state.head = body.open;
    drawTime();
    drawTimeline();               // the slider works before the first frame is fetched
    if (state.live && state.summaries.length) await showIndex(headIndex());
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
    const index = indexOf(id);
    if (index >= 0) step(index);
  });

  // Read-only hooks for tests and the console.
  window.pulse = Object.freeze({
    state: () => ({
      frameId: state.shown && state.shown.id,
      frames: state.summaries.length,
      cached: state.full.size,      // whole frames held (at most CACHED)
      live: state.live,
      connected: state.connected,
      nodes: view.order(),
      edges: view.size(),
      clusterSizes: state.shown ? (state.shown.clusters || []).map((c) => c.size) : [],
      selected: state.selected,
      cluster: state.cluster,
      history: $("history").hidden ? null : {
        id: $("history-name").firstChild && $("history-name").firstChild.getAttribute("title"),
        sizes: (($("history-chart").data || [])[0] || {}).y || [],
        events: [...document.querySelectorAll("#history-events li")].map((li) => li.textContent),
        whats: [...document.querySelectorAll("#history-events li")].map((li) =>
            li.getAttribute("data-what")),
      },
      changes: [...document.querySelectorAll("#changes li")].map((li) => ({
        kind: li.getAttribute("data-kind"), id: li.getAttribute("data-cluster") })),
      panelLogin: $("panel-node").textContent,
      panelMembers: [...document.querySelectorAll("#panel-members .login")]
          .map((n) => n.textContent),
      panelBrokers: [...document.querySelectorAll("#panel-brokers li")]
          .map((n) => n.textContent),
      brokerEdges: view.brokerEdges(),
      buckets: state.shown ? pulseCharts.buckets(state.shown.size_histogram) : null,
    }),
    // Where a node is drawn, in CSS pixels from the graph container's top-left.
    nodePosition: (login) => view.nodePosition(login),
    clickNode: (login) => select(login),   // what a click on that node does
    pickCluster: (id) => pick(id),          // what a click on a cluster in the changes does
    goTo: (frameId, clusterId) => goTo(frameId, clusterId),   // a click on a history's link
    colourOf: (id) => view.colourOf(id),    // a drawn cluster's colour (null: not drawn)
    preferredColour: (id) => pulseGraph.preferredColour(id),
    // The drawing as rendered: px per layout unit, each cluster's nodes as drawn (CSS px
    // from the graph container's top-left, colour), the label boxes of the last render.
    drawing: () => view.drawing(state.shown ? state.shown.clusters || [] : []),
  });
})();
