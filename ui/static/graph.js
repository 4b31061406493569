// Network Pulse cluster graph: the layout of a window's clusters, their colours, the hub
// labels' places, and the sigma renderer that draws them. Labels are drawn on the canvas as
// text, never as HTML. Loaded before app.js, which owns the page's state and calls
// pulseGraph.create.
(function () {
  "use strict";

  const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#17becf",
                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#3949ab", "#00897b"];
  const DIM = "#e3e7ed";
  const BROKER = "#1d2430";     // broker links: dark, over any cluster colour
  const LABEL_FONT = "system-ui, sans-serif", LABEL_SIZE = 12;

  // Each cluster a sunflower disc round its hub (best-linked members nearest); the discs
  // packed in rows, largest first, in a box shaped like the canvas.
  function layout(clusters, aspect, remembered) {
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
      Object.assign(d, { cx, cy });
    }
    return { spots, discs, colours: colourDiscs(discs, remembered || new Map()) };
  }

  // A cluster's colour comes from its id, so it keeps it while it keeps its id (lineage
  // ids: transforms/lineage.py): its preferences are the colour it was last drawn in on
  // this page, if any, then the palette in an order hashed from the id. Neighbouring discs
  // (edges under NEAR units apart: side by side in a row, above, below or diagonal across
  // rows; discs in a row are 1 unit apart) never share a colour: the oldest cluster first
  // (the window its id was born in; ids of frames stored before lineage count as youngest,
  // largest first), each takes its first preference that no neighbour coloured before it
  // has. So a cluster changes colour only when it comes beside an older one of the same
  // colour, and then keeps the new one (12 colours; a disc has at most 8 neighbours in the
  // bundled hours' frames).
  const NEAR = 5, STRIDES = [1, 5, 7, 11];     // strides coprime with 12: every colour once
  function hashOf(text) {                      // FNV-1a, 32 bits, over UTF-16 code units
    let h = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    return h >>> 0;
  }
  function preferences(id) {
    const h = hashOf(String(id)), first = h % PALETTE.length;
    const stride = STRIDES[(h >>> 16) & 3];
    return PALETTE.map((_, k) => (first + k * stride) % PALETTE.length);
  }
  // The window start (ms) a lineage id "<window_start>/<first member>" was born in.
  function bornAt(id) {
    const m = /^(\d{1,15})\//.exec(String(id));
    return m ? Number(m[1]) : Infinity;
  }
  const preferredColour = (id) => PALETTE[preferences(id)[0]];

  const REMEMBERED = 20000;      // colours kept for the clusters drawn last, at most
  function colourDiscs(discs, remembered) {
    const picked = discs.map(() => -1);
    const order = discs.map((_, i) => i).sort((i, j) => {
      const a = bornAt(discs[i].c.id), b = bornAt(discs[j].c.id);
      return a === b ? i - j : a < b ? -1 : 1;
    });
    for (const i of order) {
      const d = discs[i], taken = new Set();
      discs.forEach((e, j) => {
        if (picked[j] >= 0 && Math.hypot(d.cx - e.cx, d.cy - e.cy) - d.r - e.r < NEAR) {
          taken.add(picked[j]);
        }
      });
      const prefs = preferences(d.c.id), last = remembered.get(d.c.id);
      if (last !== undefined) prefs.unshift(last);
      const free = prefs.find((k) => !taken.has(k));
      picked[i] = free === undefined ? prefs[0] : free;
    }
    discs.forEach((d, i) => {      // most recently drawn last: the first ones go first
      remembered.delete(d.c.id);
      remembered.set(d.c.id, picked[i]);
    });
    for (const id of remembered.keys()) {
      if (remembered.size <= REMEMBERED) break;
      remembered.delete(id);
    }
    return picked.map((k) => PALETTE[k]);
  }

  // The graph's node keys are "@" + login, never the login itself: graphology and sigma
  // index nodes in plain objects ({}), where a login such as "constructor" or "__proto__"
  // would find (or replace) what Object.prototype holds. Everything outside this file
  // (app.js, the events handed on, the hooks for the tests) deals in logins.
  const keyOf = (login) => "@" + login, loginOf = (key) => key.slice(1);

  const overlap = (a, b) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

  // The graph drawn in `container`. pointer() gives the logins under the pointer and
  // clicked, and the index of the selected cluster, {hovered, selected, cluster}: the
  // cluster of the first of them that is set is brought forward, the rest dimmed.
  function create(container, pointer) {
    const graph = new graphology.Graph({ type: "undirected", multi: false, allowSelfLoops: false });
    const clusterOf = new Map();   // login -> {cluster, index} of the drawn clusters
    let colours = [];               // the drawn clusters' colours, by cluster index
    let discs = [];                 // and their discs in the layout: {cx, cy, r}
    let drawnIds = [];              // and their ids
    const remembered = new Map();   // cluster id -> the palette index it was last drawn in
    const colour = (index) => colours[index] || PALETTE[index % PALETTE.length];

    const renderer = new Sigma(graph, container, {
      labelRenderedSizeThreshold: Infinity,   // only forced labels (hubs), put by placeLabels
      labelFont: LABEL_FONT,
      labelSize: LABEL_SIZE,
      defaultDrawNodeLabel: drawLabel,
      zIndex: true,
      zoomToSizeRatioFunction: () => 1,   // node sizes in screen pixels at any zoom
      nodeReducer: (node, data) => {
        const focus = focusCluster();
        if (focus === null) return data;
        if (data.cluster !== focus) return { ...data, color: DIM, label: null, zIndex: 0 };
        const { hovered, selected } = pointer(), login = loginOf(node);
        return { ...data, forceLabel: data.hub || data.broker || login === hovered ||
                 login === selected,
                 highlighted: login === selected, zIndex: 2 };
      },
      edgeReducer: (edge, data) => {
        const focus = focusCluster();
        if (focus === null || data.cluster === focus) return data;
        return { ...data, color: "#f0f2f5" };
      },
    });

    function focusCluster() {
      const { hovered, selected, cluster } = pointer();
      const login = hovered || selected;
      const entry = login && clusterOf.get(login);
      return entry ? entry.index : Number.isInteger(cluster) ? cluster : null;
    }

    // Hub labels never overlap: before each render's labels are drawn, each hub (largest
    // cluster first) gets the first place below, right of or above its dot that stays on
    // the canvas and overlaps no label placed before it nor another cluster's disc (so it
    // is never read as a neighbour's); one with no such place goes unlabelled (hover shows
    // it). drawLabel draws them there, on a white halo, and keeps what it drew for the tests.
    const measure = document.createElement("canvas").getContext("2d");
    let placed = null;         // node -> label box, for the render under way
    const drawn = [];          // the label boxes drawn in the last render

    function placeLabels() {
      measure.font = `normal ${LABEL_SIZE}px ${LABEL_FONT}`;
      const { width, height } = renderer.getDimensions();
      const { hovered, selected } = pointer();
      const nodes = [], unit = unitPx();
      const areas = discs.map((d) => {      // each disc's square, trimmed of its empty rim
        const c = renderer.graphToViewport({ x: d.cx, y: d.cy }), h = (d.r - 0.4) * unit;
        return { x0: c.x - h, x1: c.x + h, y0: c.y - h, y1: c.y + h };
      });
      graph.forEachNode((node) => {
        const data = renderer.getNodeDisplayData(node);
        if (!data || data.hidden) return;
        const p = renderer.framedGraphToViewport(data), r = renderer.scaleSize(data.size);
        // The hovered and the selected node's labels are drawn boxed by sigma's hover layer.
        const login = loginOf(node);
        if (data.label && data.forceLabel && login !== hovered && login !== selected) {
          nodes.push({ node, label: data.label, p, r, cluster: data.cluster });
        }
      });
      nodes.sort((a, b) => a.cluster - b.cluster);
      const boxes = [], out = new Map();
      for (const { node, label, p, r, cluster } of nodes) {
        // The box holds the ink: the glyphs' extents (past the advance width for some) and
        // the halo round them.
        const m = measure.measureText(label), HALO = 3;
        const left = Math.max(0, m.actualBoundingBoxLeft) + HALO;
        const w = left + Math.max(m.width, m.actualBoundingBoxRight) + HALO;
        const up = Math.max(m.fontBoundingBoxAscent || LABEL_SIZE,
                            m.actualBoundingBoxAscent) + HALO;
        const h = up + Math.max(m.fontBoundingBoxDescent || 3, m.actualBoundingBoxDescent) + HALO;
        const spots = [[p.x - w / 2, p.y + r], [p.x + r + 2, p.y - h / 2],
                       [p.x - w / 2, p.y - r - h]];
        for (const [x, y] of spots) {
          const box = { node, x0: x, y0: y, x1: x + w, y1: y + h,
                        textX: x + left, baseline: y + up };
          if (box.x0 < 2 || box.y0 < 2 || box.x1 > width - 2 || box.y1 > height - 2) continue;
          if (boxes.some((b) => overlap(b, { ...box, x0: box.x0 - 4, x1: box.x1 + 4 })) ||
              areas.some((a, i) => i !== cluster && overlap(a, box))) continue;
          boxes.push(box);
          out.set(node, box);
          break;
        }
      }
      return out;
    }

    function unitPx() {       // px per layout unit at the current zoom
      const at = (x) => renderer.graphToViewport({ x, y: 0 }), o = at(0), e = at(1);
      return Math.hypot(e.x - o.x, e.y - o.y);
    }

    function drawLabel(context, data, settings) {
      if (!placed) placed = placeLabels();
      const box = placed.get(data.key);
      if (!box || !data.label) return;
      context.font = `normal ${settings.labelSize}px ${settings.labelFont}`;
      context.lineWidth = 3;
      context.strokeStyle = "rgba(255, 255, 255, 0.85)";
      context.strokeText(data.label, box.textX, box.baseline);
      context.fillStyle = settings.labelColor.color || "#000";
      context.fillText(data.label, box.textX, box.baseline);
      drawn.push({ login: loginOf(data.key), x0: box.x0, y0: box.y0, x1: box.x1, y1: box.y1 });
    }
    renderer.on("beforeRender", () => { placed = null; drawn.length = 0; });

    // Zoom so the clusters fill the canvas, but never beyond MAX_PX_PER_UNIT, so a window
    // of two small clusters is drawn at the scale of a busy one rather than blown up. PAD
    // leaves room round the drawing for the labels under (or beside) the outer hubs.
    const MAX_PX_PER_UNIT = 26, PAD = 40;
    function fit() {
      const home = { cameraState: { x: 0.5, y: 0.5, ratio: 1, angle: 0 } };
      if (!graph.order) return renderer.getCamera().setState({ ...home.cameraState });
      const xs = [], ys = [], units = [];
      graph.forEachNode((node, attrs) => {
        const p = renderer.framedGraphToViewport(renderer.getNodeDisplayData(node), home);
        xs.push(p.x); ys.push(p.y); units.push(attrs.x);
      });
      const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
      const { width, height } = renderer.getDimensions();
      const pxPerUnit = (x1 - x0) / Math.max(1e-9, Math.max(...units) - Math.min(...units));
      const zoom = Math.min((width - 2 * PAD) / Math.max(1, x1 - x0),
                            (height - 2 * PAD) / Math.max(1, y1 - y0),
                            MAX_PX_PER_UNIT / Math.max(1e-9, pxPerUnit));
      const centre = renderer.viewportToFramedGraph({ x: (x0 + x1) / 2, y: (y0 + y1) / 2 }, home);
      renderer.getCamera().setState({ x: centre.x, y: centre.y, ratio: 1 / zoom, angle: 0 });
    }
    window.addEventListener("resize", () => setTimeout(fit, 50));

    // Rebuilds the graph from a window's clusters; drawn by the next show().
    function draw(clusters) {
      graph.clear();
      clusterOf.clear();
      const box = container.getBoundingClientRect();
      const drawing = layout(clusters, Math.max(0.5, box.width / Math.max(1, box.height)),
                             remembered);
      const spots = drawing.spots;
      colours = drawing.colours;
      discs = drawing.discs;
      drawnIds = clusters.map((c) => c.id);
      clusters.forEach((c, index) => {
        for (const login of c.members) {
          const key = keyOf(login);
          if (graph.hasNode(key)) continue;   // clusters are disjoint; be safe anyway
          clusterOf.set(login, { cluster: c, index });
          const [x, y] = spots.get(login);
          const hub = login === c.hub;
          graph.addNode(key, {
            x, y, label: login, cluster: index, hub, color: colour(index),
            size: hub ? 9 : 4.5, forceLabel: hub, zIndex: hub ? 1 : 0,
          });
        }
        const bridges = new Set(listOf(c.bridges).filter(Array.isArray).map(pairKey));
        for (const l of c.links || []) {
          const [src, dst] = [keyOf(l.src), keyOf(l.dst)];
          if (src === dst || !graph.hasNode(src) || !graph.hasNode(dst)) continue;
          if (graph.hasEdge(src, dst)) continue;
          if (bridges.has(pairKey([l.src, l.dst]))) {
            // A broker link: thick and dark, its two users named.
            graph.addEdge(src, dst, { cluster: index, broker: true, color: BROKER, size: 4 });
            for (const end of [src, dst]) {
              graph.mergeNodeAttributes(end, { forceLabel: true, broker: true });
            }
          } else {
            graph.addEdge(src, dst, { cluster: index, color: colour(index) + "88", size: 1.5 });
          }
        }
      });
      container.parentElement.classList.toggle("is-empty", clusters.length === 0);
    }

    return Object.freeze({
      draw,
      show: () => { renderer.refresh(); fit(); },   // after draw: render, and zoom to fit
      refocus: () => renderer.refresh({ skipIndexation: true }),   // after pointer changes
      // sigma's events, a node's given by its login
      on: (event, handler) => renderer.on(event, (e) =>
          handler(e && typeof e.node === "string" ? { ...e, node: loginOf(e.node) } : e)),
      has: (login) => typeof login === "string" && graph.hasNode(keyOf(login)),
      clusterOf: (login) => clusterOf.get(login),   // {cluster, index} or undefined
      colour,
      // A drawn cluster's colour by id; null for one not drawn.
      colourOf: (id) => {
        const index = drawnIds.indexOf(id);
        return index >= 0 ? colour(index) : null;
      },
      order: () => graph.order,
      size: () => graph.size,
      // The broker links drawn, as "u v" (the graph's own ends, sorted).
      brokerEdges: () => graph.filterEdges((edge, data) => data.broker)
          .map((edge) => graph.extremities(edge).map(loginOf).sort().join(" ")).sort(),
      // Where a node is drawn, in CSS pixels from the container's top-left.
      nodePosition: (login) => {
        const data = renderer.getNodeDisplayData(keyOf(login));
        return data ? renderer.framedGraphToViewport(data) : null;
      },
      // The drawing as rendered: px per layout unit, each cluster's drawn nodes (CSS px
      // from the container's top-left, colour), the label boxes of the last render.
      drawing: (clusters) => ({
        unit: unitPx(),
        clusters: clusters.map((c) => ({
          hub: c.hub, nodes: c.members.filter((m) => graph.hasNode(keyOf(m))).map((m) => {
            const data = renderer.getNodeDisplayData(keyOf(m));
            const p = renderer.framedGraphToViewport(data);
            return { x: p.x, y: p.y, colour: data.color };
          }),
        })),
        labels: drawn.map((b) => ({ ...b })),
      }),
    });
  }

  // A frame's list as given, or none (a stored frame is data, not trusted to be well formed).
  const listOf = (value) => (Array.isArray(value) ? value : []);

  // A user pair as one string, whichever way round.
  function pairKey([a, b]) {
    return a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
  }

  // A drawn cluster's broker links with the members on either side of each:
  // [{pair: [u, v], sides: [u's side, v's side]}]; a bridge is one of its links, so
  // without it the cluster's tree of links falls in two.
  function brokers(cluster) {
    const adjacent = new Map();
    for (const l of listOf(cluster.links)) {
      if (!l || typeof l.src !== "string" || typeof l.dst !== "string") continue;
      for (const [a, b] of [[l.src, l.dst], [l.dst, l.src]]) {
        if (!adjacent.has(a)) adjacent.set(a, []);
        adjacent.get(a).push(b);
      }
    }
    const out = [];
    for (const pair of listOf(cluster.bridges)) {
      const usable = Array.isArray(pair) && pair.length === 2 &&
          pair.every((p) => adjacent.has(p));
      if (!usable) continue;
      const [u, v] = pair, seen = new Set([u]), stack = [u];
      while (stack.length) {
        const node = stack.pop();
        for (const other of adjacent.get(node)) {
          if (seen.has(other) || pairKey([node, other]) === pairKey(pair)) continue;
          seen.add(other);
          stack.push(other);
        }
      }
      out.push({ pair: [u, v], sides: [seen.size, adjacent.size - seen.size] });
    }
    return out;
  }

  window.pulseGraph = Object.freeze({ create, layout, preferredColour, bornAt, brokers });
})();
