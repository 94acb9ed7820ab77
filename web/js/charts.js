// The Analytics section's live charts, drawn with uPlot (vendored from npm into dist/vendor/uplot/,
// pinned in pins.toml; no CDN). One chart per series set of analytics.js `snapshot()`; a chart is
// rebuilt only when its series change (a new channel), otherwise only its data is replaced.
import uPlot from "../vendor/uplot/uPlot.esm.js";

const CHARTS = [
  ["nodes", "Node count", "peers"],
  ["tokens", "Tokens (cumulative)", "tokens"],
  ["channels", "Channel mix: first deliveries per 10 s", "packets"],
  ["outcomes", "Consensus outcomes (cumulative)", "requests"],
  ["distances", "Cluster distances (winning cluster, per quorum)", "distance"],
  ["tps", "Tokens/s of this node's inferences", "tokens/s"],
];
const COLOURS = ["#3a5bd9", "#1f8a4c", "#c0392b", "#a66400", "#7b3fb5", "#138a9c", "#68717c"];
const HEIGHT = 190;

export class LiveCharts {
  constructor(container) {
    this.container = container;
    this.charts = new Map();     // name -> {plot, key, box}
    this.boxes = new Map();
    for (const [name, title] of CHARTS) {
      const box = document.createElement("figure");
      box.className = "chart";
      box.dataset.chart = name;
      const caption = document.createElement("figcaption");
      caption.textContent = title;
      const body = document.createElement("div");
      box.append(caption, body);
      container.append(box);
      this.boxes.set(name, body);
    }
    this.width = 0;
    addEventListener("resize", () => this.#resize());
  }

  draw(snapshot) {
    const width = this.#chartWidth();
    this.range = snapshot.range ?? null;
    for (const [name, , unit] of CHARTS) {
      const d = snapshot[name];
      if (!d) continue;
      const names = Object.keys(d.series);
      const key = names.join("|");
      let c = this.charts.get(name);
      if (!c || c.key !== key) {
        c?.plot.destroy();
        c = { key, plot: this.#make(name, names, unit, d.points, width) };
        this.charts.set(name, c);
      }
      c.plot.setData([d.x, ...names.map((n) => d.series[n])]);
    }
  }

  #make(name, names, unit, asPoints, width) {
    const series = [{}, ...names.map((label, i) => ({
      label, stroke: COLOURS[i % COLOURS.length], width: 2,
      ...(asPoints ? { paths: () => null, points: { show: true, size: 7, fill: COLOURS[i % COLOURS.length] } }
                   : { points: { show: false } }),
    }))];
    const opts = { width, height: HEIGHT, series, legend: { live: false },
                   axes: [{}, { label: unit, size: 56 }],
                   // Every chart shows the same time window, whatever its points span.
                   scales: { x: { time: true, range: (u, min, max) => this.range ?? [min, max] } } };
    const body = this.boxes.get(name);
    body.replaceChildren();
    return new uPlot(opts, [[], ...names.map(() => [])], body);
  }

  #chartWidth() {
    const total = this.container.clientWidth || 900;
    return Math.max(260, Math.floor(total >= 700 ? total / 2 - 16 : total - 8));
  }

  #resize() {
    const width = this.#chartWidth();
    for (const c of this.charts.values()) c.plot.setSize({ width, height: HEIGHT });
  }
}
