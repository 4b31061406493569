// Network Pulse charts (Plotly): components by size in the shown window, and components,
// edges and the largest cluster per window over time. Loaded before app.js, which calls
// them with the page's state.
(function () {
  "use strict";

  // The size distribution groups components by their SIZE (not by how many there are).
  const BUCKETS = [["2", 2, 2], ["3-4", 3, 4], ["5-9", 5, 9], ["10+", 10, Infinity]];
  const utc = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 16);
  const plotTime = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);

  const CHART = { displayModeBar: false, responsive: true };
  // Over time: drag to zoom into a stretch, the wheel zooms, the bar's hand pans, a double
  // click shows everything again.
  const TIME_CHART = { responsive: true, scrollZoom: true, doubleClick: "reset",
                       displaylogo: false, displayModeBar: true,
                       modeBarButtons: [["zoom2d", "pan2d", "resetScale2d"]] };
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
  // stretch of more than an hour without frames is marked with how long it lasted, and
  // one longer than 3% of the chart becomes that many slots only, so hours years apart in
  // one store each keep a readable width.
  const LONG_GAP = 3600e3;
  const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080, 43200];
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
      const missing = gap > period ? Math.round(gap / period) - 1 : 0;
      const cut = gap > LONG_GAP && missing > 0;
      if (cut) {
        const width = Math.min(missing, cutSlots);
        empty(Math.floor(width / 2));
        cuts.push({ x: `gap ${slots.length}`, text: lasted(gap) + " later" });
        empty(width - Math.floor(width / 2));
      } else {
        empty(missing);
      }
      slots.push({ x: plotTime(f.window_end), f, first: !i || cut });
    });
    return { slots, cuts, period: Number.isFinite(period) ? period : 60e3 };
  }

  // Ticks at round times over the slots in view ([lo, hi], slot positions), about one per
  // 10% of it (or at the first window of a stretch that has none); a date under the first
  // of each stretch and wherever the day changes. Recomputed as the view zooms.
  function ticks(slots, period, lo, hi) {
    const a = Math.max(0, Math.ceil(lo)), b = Math.min(slots.length - 1, Math.floor(hi));
    const framed = [];
    for (let i = a; i <= b; i++) if (slots[i].f) framed.push(slots[i]);
    const step = 60e3 * (STEPS.find((m) => m * 60e3 >= (b - a + 1) * period / 10) ||
                         STEPS[STEPS.length - 1]);
    const picked = new Set(framed.filter((slot) => !(slot.f.window_end % step)));
    for (let i = 1, start = 0; i <= framed.length; i++) {
      if (i < framed.length && !framed[i].first) continue;     // framed[start..i): a stretch
      if (!framed.slice(start, i).some((o) => picked.has(o))) picked.add(framed[start]);
      start = i;
    }
    let lastDay = null, fresh = true;
    const out = [];
    for (const slot of framed) {
      fresh = fresh || slot.first;
      if (!picked.has(slot)) continue;
      const d = day(slot.f.window_end);
      const date = fresh || d !== lastDay ? "<br>" + d : "";
      out.push([slot.x, utc(slot.f.window_end).slice(11) + date]);
      [lastDay, fresh] = [d, false];
    }
    return { tickvals: out.map((t) => t[0]), ticktext: out.map((t) => t[1]) };
  }

  // What is drawn: the traces and marks of the summaries of `revision`, and the view the
  // reader zoomed or panned to (null: all of it).
  const drawn = { revision: null, slots: [], period: 60e3, at: new Map(), view: null,
                  traces: [], cuts: [], ticks: {}, listening: false };
  const rule = (at, line) => ({ type: "line", xref: "x", yref: "paper", y0: 0, y1: 1,
                                x0: at, x1: at, line });
  const SERIES = [["components", "components", "#1f77b4", "y"], ["edges", "edges", "#7f7f7f", "y"],
                  ["largest cluster", "largest", "#d62728", "y2"]];

  function fullRange() {
    return [-0.5, Math.max(0.5, drawn.slots.length - 0.5)];
  }

  // Lines only: a marker per point is an SVG node per window (30,000 over a week, seconds
  // to draw); a window alone between empty slots, which no line shows, gets a dot of a
  // trace of such windows only.
  function traces(slots) {
    const x = slots.map((slot) => slot.x), ids = slots.map((slot) => slot.f ? slot.f.id : null);
    const alone = slots.filter((slot, i) => slot.f && !(slots[i - 1] || {}).f &&
                                             !(slots[i + 1] || {}).f);
    const lines = SERIES.map(([name, key, color, yaxis]) => ({
      type: "scatter", mode: "lines", name, x, connectgaps: false, yaxis, customdata: ids,
      y: slots.map((slot) => slot.f ? slot.f[key] : null), line: { color, width: 1.5 } }));
    const dots = SERIES.map(([name, key, color, yaxis]) => ({
      type: "scatter", mode: "markers", name, x: alone.map((slot) => slot.x), yaxis,
      y: alone.map((slot) => slot.f[key]), customdata: alone.map((slot) => slot.f.id),
      marker: { color, size: 5 }, showlegend: false, hoverinfo: "skip" }));
    return lines.concat(dots);
  }

  function layout(shown) {
    const range = drawn.view || fullRange(), at = shown ? drawn.at.get(shown.id) : undefined;
    // The whole span is autorange, so that a double click (Plotly's reset) comes back to it.
    const span = drawn.view ? { range, autorange: false } : { autorange: true };
    const shapes = drawn.cuts.map((c) => rule(c.x, { color: "#9aa5b5", width: 1, dash: "dash" }));
    if (at !== undefined) shapes.push(rule(at, { color: "#d98e04", width: 2, dash: "dot" }));
    return {
      font: FONT, margin: { l: 50, r: 60, t: 18, b: 40 }, shapes,
      annotations: drawn.cuts.map((c) => ({
        x: c.x, xref: "x", y: 1, yref: "paper", yanchor: "bottom", showarrow: false,
        text: c.text, font: { size: 11, color: "#6b7585" } })),
      hovermode: "x unified", dragmode: "zoom",
      legend: { orientation: "h", x: 0, y: 1.08, yanchor: "bottom", xanchor: "left" },
      xaxis: { type: "category", tickmode: "array", tickangle: 0, showgrid: true, ...span,
               ...viewTicks(range) },
      yaxis: { title: { text: "components, edges" }, rangemode: "tozero", fixedrange: true },
      yaxis2: { title: { text: "largest cluster" }, overlaying: "y", side: "right",
                rangemode: "tozero", showgrid: false, tickformat: "d", tickmode: "auto",
                nticks: 6, fixedrange: true },
    };
  }

  // The ticks of a view, the same arrays while it lasts: Plotly compares them by reference.
  function viewTicks(range) {
    const key = `${drawn.revision} ${range}`;
    if (drawn.ticks.key !== key) {
      drawn.ticks = { key, ...ticks(drawn.slots, drawn.period, ...range) };
    }
    return { tickvals: drawn.ticks.tickvals, ticktext: drawn.ticks.ticktext };
  }

  // The reader's zoom, pan or reset (a drag, the wheel, a double click): ticks for the new
  // view. Our own relayouts carry no range and are let be.
  function viewed(event) {
    let range = null;
    if (event["xaxis.range[0]"] !== undefined) {
      range = [event["xaxis.range[0]"], event["xaxis.range[1]"]];
    } else if (Array.isArray(event["xaxis.range"])) {
      range = event["xaxis.range"];
    } else if (!event["xaxis.autorange"]) {
      return;
    }
    const [lo, hi] = fullRange();
    drawn.view = range && (range[0] > lo || range[1] < hi) ? range.map(Number) : null;
    const { tickvals, ticktext } = viewTicks(drawn.view || fullRange());
    Plotly.relayout("chart-time", { "xaxis.tickvals": tickvals, "xaxis.ticktext": ticktext });
  }

  // summaries: every window's, in store order; shown: the frame on screen (or null);
  // revision: changes whenever summaries do. The traces (a week: 10,080 windows) are made
  // again only then; a step to another window gives Plotly the same ones, and it redraws
  // the rule that marks the shown window (Plotly.react compares data by reference).
  function drawTime(summaries, shown, revision) {
    const chart = document.getElementById("chart-time");
    if (revision === undefined || revision !== drawn.revision) {
      const { slots, cuts, period } = timeSlots(summaries);
      Object.assign(drawn, { revision, slots, period, cuts, traces: traces(slots),
                             at: new Map(slots.filter((s) => s.f).map((s) => [s.f.id, s.x])) });
      if (drawn.view && drawn.view[0] >= slots.length) drawn.view = null;
    }
    const drawing = Plotly.react(chart, drawn.traces, layout(shown), TIME_CHART);
    if (!drawn.listening) {
      chart.on("plotly_relayout", viewed);
      drawn.listening = true;
    }
    return drawing;
  }

  window.pulseCharts = Object.freeze({ buckets, drawSizes, drawTime });
})();
