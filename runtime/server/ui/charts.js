// Charts drawn as SVG from the API's numbers: bars per minute, stacked by series, with a
// legend and a scale, each bar titled with its figures (hover, and read by screen readers as
// the chart's table). Fixed height, so nothing moves while data loads.

import { h, s } from "./dom.js";

const W = 720;
const H = 160;
const PAD = 28;

/**
 * A stacked bar chart. `buckets`: [{at_ms, values: {series: n}}], `series`: [{key, label, cls}].
 */
export function stackedBars(title, buckets, series, opts = {}) {
  const max = Math.max(1, ...buckets.map((b) => series.reduce((t, se) => t + (b.values[se.key] || 0), 0)));
  const n = Math.max(buckets.length, 1);
  const bw = (W - PAD) / n;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H + 18}`, class: "chart", role: "img", "aria-label": `${title}; the table below has the figures` });
  for (const f of max >= 4 ? [0, 0.5, 1] : [0, 1]) {
    const y = H - f * (H - 8);
    svg.append(s("line", { x1: PAD, x2: W, y1: y, y2: y, class: "grid" }));
    svg.append(s("text", { x: PAD - 4, y: y + 4, class: "axis", "text-anchor": "end" }, String(Math.round(f * max))));
  }
  buckets.forEach((b, i) => {
    let y = H;
    const total = series.reduce((t, se) => t + (b.values[se.key] || 0), 0);
    const g = s("g", {}, s("title", {}, `${time(b.at_ms)}: ${total} ${opts.unit || ""} ${series.filter((se) => b.values[se.key]).map((se) => `${se.label} ${b.values[se.key]}`).join(", ")}`.trim()));
    for (const se of series) {
      const v = b.values[se.key] || 0;
      if (!v) continue;
      const bh = (v / max) * (H - 8);
      y -= bh;
      g.append(s("rect", { x: PAD + i * bw + 0.5, y, width: Math.max(bw - 1, 1), height: bh, class: `bar ${se.cls}` }));
    }
    svg.append(g);
  });
  const first = buckets[0];
  const last = buckets[buckets.length - 1];
  if (first) svg.append(s("text", { x: PAD, y: H + 14, class: "axis" }, time(first.at_ms)));
  if (last) svg.append(s("text", { x: W, y: H + 14, class: "axis", "text-anchor": "end" }, time(last.at_ms)));
  const legend = h("ul", { class: "legend" }, series.map((se) => h("li", {}, h("span", { class: `swatch ${se.cls}` }), se.label)));
  const totals = series.map((se) => [se.label, buckets.reduce((t, b) => t + (b.values[se.key] || 0), 0)]);
  const figures = h("details", { class: "figures" }, h("summary", { text: "Figures" }),
    h("table", {}, h("tbody", {}, totals.map(([l, v]) => h("tr", {}, h("th", { scope: "row", text: l }), h("td", { text: v }))))));
  return h("figure", { class: "chart-box" }, h("figcaption", { text: title }), svg, legend, figures);
}

function time(ms) {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}
