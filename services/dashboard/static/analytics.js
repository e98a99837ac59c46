// The analytics page: the history of a chosen range from GET /api/history, drawn as charts
// (charts.js) with a table of failure causes. The range ends where the bucket holding now ends
// (the next local hour, or midnight), so buckets start on the viewer's hours and days.

import { ApiError, getJSON } from "./api.js";
import { TimeChart } from "./charts.js";
import { bytes, dateTime, duration } from "./format.js";
import { el } from "./render.js";

const $ = (id) => document.getElementById(id);
const DAY_MS = 24 * 3600 * 1000;
const CAUSE_COLUMNS = [
  ["cause", "Cause"], ["pipeline", "Pipeline"], ["count", "Jobs"], ["last_at", "Last"], ["example", "Newest error"],
];

const count = (value) => value.toLocaleString();
const seconds = (value) => (value < 10 ? `${+value.toFixed(1)}s` : duration(value));
const charts = {
  deliveries: new TimeChart($("chart-deliveries"), count, { whole: true }),
  bytes: new TimeChart($("chart-bytes"), bytes),
  latency: new TimeChart($("chart-latency"), seconds),
  failures: new TimeChart($("chart-failures"), count, { whole: true }),
};

function chosenRange(days, bucket, now = new Date()) {
  const end = new Date(now);
  if (bucket === "day") end.setHours(24, 0, 0, 0);
  else end.setMinutes(60, 0, 0);
  return { from: new Date(end.getTime() - days * DAY_MS), to: end };
}

// The total of every bucket (as bars), and each pipeline's line when there are several.
function perPipeline(history, key) {
  const values = (pick) => history.buckets.map(pick);
  const all = { label: $("pipeline").value || "All pipelines", values: values((bucket) => bucket[key]), bars: true };
  const names = Object.keys(history.pipelines);
  if (names.length < 2) return [all];
  return [all, ...names.map((name) => ({
    label: name, values: values((bucket) => (bucket.pipelines[name] ? bucket.pipelines[name][key] : 0)),
  }))];
}

function addPipelines(names) {
  const select = $("pipeline");
  const known = new Set([...select.options].map((option) => option.value));
  for (const name of names) {
    if (!known.has(name)) select.append(el("option", { value: name }, name));
  }
}

function causeRow(cause) {
  const row = el("tr", { dataset: { pipeline: cause.pipeline } });
  for (const [key, label] of CAUSE_COLUMNS) {
    const text = key === "last_at" ? dateTime(cause.last_at) : String(cause[key]);
    row.append(el("td", { className: `cause-${key}`, dataset: { label } }, text));
  }
  return row;
}

function render(history) {
  const times = history.buckets.map((bucket) => Date.parse(bucket.start) / 1000);
  const step = history.bucket_s;
  for (const node of document.querySelectorAll(".per")) node.textContent = step >= DAY_MS / 1000 ? "day" : "hour";
  charts.deliveries.draw(times, step, perPipeline(history, "deliveries"));
  charts.bytes.draw(times, step, perPipeline(history, "bytes"));
  charts.latency.draw(times, step, [
    { label: "median", values: history.buckets.map((bucket) => bucket.median_s) },
    { label: "p95", values: history.buckets.map((bucket) => bucket.p95_s) },
  ]);
  charts.failures.draw(times, step, perPipeline(history, "failures"));

  const total = history.total;
  const files = total.deliveries === 1 ? "file" : "files";
  $("sum-delivered").textContent = `${total.deliveries.toLocaleString()} ${files}, ${bytes(total.bytes)}`;
  $("sum-latency").textContent = total.median_s === null ? "—"
    : `median ${seconds(total.median_s)} · p95 ${seconds(total.p95_s)}`;
  $("sum-failures").textContent = total.failures.toLocaleString();
  $("sum-range").textContent = `${dateTime(history.from)} – ${dateTime(history.to)}`;
  $("analytics-capped").hidden = !history.capped;
  $("cause-rows").replaceChildren(...history.failure_causes.map(causeRow));
  $("no-causes").hidden = history.failure_causes.length > 0;
  addPipelines(Object.keys(history.pipelines));
}

function showProblem(message) {
  $("analytics-problem").textContent = message;
  $("analytics-problem").hidden = !message;
}

let asked = 0;  // the latest request: an answer to an older one is dropped

async function load() {
  const ticket = ++asked;
  const bucket = $("bucket").value;
  const { from, to } = chosenRange(Number($("range").value), bucket);
  const params = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), bucket });
  if ($("pipeline").value) params.set("pipeline", $("pipeline").value);
  $("analytics").dataset.state = "loading";
  let history;
  try {
    history = await getJSON(`/api/history?${params}`);
  } catch (error) {
    if (ticket !== asked) return;
    if (error instanceof ApiError && error.status === 401) {
      $("analytics").hidden = true;
      $("signed-out").hidden = false;
      return;
    }
    showProblem(`history unavailable: ${error.message}`);
    $("analytics").dataset.state = "failed";
    return;
  }
  if (ticket !== asked) return;
  showProblem("");
  render(history);
  $("analytics").dataset.state = "ready";
}

async function loadPipelines() {
  try {
    addPipelines((await getJSON("/api/pipelines")).pipelines.map((pipeline) => pipeline.name));
  } catch {
    // The history names the pipelines it saw; this list only adds those without any yet.
  }
}

for (const id of ["range", "bucket", "pipeline"]) $(id).addEventListener("change", load);
$("refresh").addEventListener("click", load);
$("analytics-filters").addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});
loadPipelines();
load();
