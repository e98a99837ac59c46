// Charts over time, drawn by uPlot (static/vendor/uPlot.iife.min.js, loaded by the page before
// its modules, as window.uPlot). A chart keeps what it draws in its figure's data-series (JSON:
// bucket starts in epoch seconds, and each series' label and values), so tests and scrapers
// read the numbers rather than the pixels. A chart follows its box's width (a phone turned,
// a window resized).

const COLORS = ["#4b3df2", "#1f8a4c", "#b86e00", "#0b7fa6", "#c62d3a", "#8a3ffc"];
const HEIGHT = 220;
const WHOLE_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6];

function fromZero(plot, min, max) {
  return [0, max > 0 ? max * 1.1 : 1];
}

export class TimeChart {
  // `format` writes a value of the y axis (a count, bytes, seconds); `whole`: counts, so the
  // axis steps by whole numbers.
  constructor(figure, format, { whole = false } = {}) {
    this.figure = figure;
    this.area = figure.querySelector(".plot");
    this.format = (value) => (value === null || value === undefined ? "—" : format(value));
    this.whole = whole;
    this.plot = null;
    this.width = 0;
    new ResizeObserver(() => this.fit()).observe(this.area);
  }

  // `times`: the buckets' starts (epoch seconds), each `step` seconds long. `series`:
  // [{ label, values, bars }], a value per bucket; null is a gap (nothing to show there).
  draw(times, step, series) {
    this.figure.dataset.series = JSON.stringify({
      times, series: series.map(({ label, values }) => ({ label, values })),
    });
    if (this.plot) this.plot.destroy();
    this.width = this.area.clientWidth;
    const yAxis = { size: 64, values: (plot, ticks) => ticks.map(this.format) };
    const options = {
      width: this.width,
      height: HEIGHT,
      scales: { x: { time: true, range: (plot, min, max) => [min, max + step] }, y: { range: fromZero } },
      axes: [{}, this.whole ? { ...yAxis, incrs: WHOLE_STEPS } : yAxis],
      series: [{}, ...series.map((one, index) => this.seriesOptions(one, COLORS[index % COLORS.length]))],
    };
    this.plot = new window.uPlot(options, [times, ...series.map((one) => one.values)], this.area);
  }

  seriesOptions(one, color) {
    const options = { label: one.label, stroke: color, width: 2, value: (plot, value) => this.format(value) };
    if (!one.bars) return { ...options, points: { size: 5 } };
    const bars = window.uPlot.paths.bars({ size: [0.8, 48], align: 1 });  // a bar fills its bucket
    return { ...options, fill: `${color}55`, paths: bars, points: { show: false } };
  }

  fit() {
    const width = this.area.clientWidth;
    if (this.plot && width && width !== this.width) {
      this.width = width;
      this.plot.setSize({ width, height: HEIGHT });
    }
  }
}
