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

  // summaries: every frame's, in store order; shown: the frame on screen (or null).
  function drawTime(summaries, shown) {
    const { slots, cuts, ticks } = timeSlots(summaries);
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
    if (shown) {
      shapes.push(rule(plotTime(shown.window_end),
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

  window.pulseCharts = Object.freeze({ buckets, drawSizes, drawTime });
})();
