// Rendering. Every string that comes from data (file names, messages, URLs) is set with
// textContent or as an attribute value, never parsed as HTML.

import {
  bandwidthLimit, bytes, clock, connections, dateTime, duration, fraction, rate, safeHttpUrl,
} from "./format.js";

const FINAL_STATES = new Set(["done", "failed", "cancelled"]);
const RETRYABLE_STATES = new Set(["failed", "cancelled"]);
const MAX_EVENTS = 200;
// The review comments of a delivered file as markers (GET /api/jobs/{id}/markers?format=…).
const MARKER_FORMATS = [
  ["edl", "EDL (Resolve)"], ["fcpxml", "FCPXML (Final Cut Pro, Resolve)"], ["xmeml", "XML (Premiere Pro)"], ["csv", "CSV"],
];

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "className") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);  // strings become text nodes
  return node;
}

export function showText(node, text) {
  node.textContent = text === undefined || text === null || text === "" ? "—" : String(text);
}

export function showBadge(badge, state) {
  badge.textContent = (state || "unknown").replaceAll("_", " ");
  badge.dataset.state = state || "unknown";
}

function setText(id, text) {
  showText(document.getElementById(id), text);
}

function setBadge(id, state) {
  showBadge(document.getElementById(id), state);
}

const COLUMNS = [
  "pipeline", "name", "folder", "state", "progress", "rate", "eta", "attempts", "error", "link", "trace", "actions",
];
const LABELS = {
  pipeline: "Pipeline", name: "Name", folder: "Folder", state: "State", progress: "Progress", rate: "Rate", eta: "ETA",
  attempts: "Attempts", error: "Error", link: "Frame.io", trace: "Trace", actions: "",
};

// One page of jobs, in the order the server listed them; live events update the rows shown.
export class JobTable {
  constructor({ tbody, onRetry, onCancel }) {
    this.tbody = tbody;
    this.onRetry = onRetry;
    this.onCancel = onCancel;
    this.rows = new Map();
    this.cells = new WeakMap();  // row -> { column name: td }
  }

  replaceAll(jobs) {
    this.rows.clear();
    this.tbody.replaceChildren(...jobs.map((job) => {
      const row = this.createRow(job);
      this.fill(row, job);
      return row;
    }));
  }

  // Whether the job is on this page (and now shows as `job` says).
  update(job) {
    const row = this.rows.get(job.id);
    if (row) this.fill(row, job);
    return Boolean(row);
  }

  createRow(job) {
    const row = el("tr", { dataset: { jobId: job.id } });
    const cells = {};
    for (const column of COLUMNS) {
      cells[column] = el("td", { className: `col-${column}`, dataset: { label: LABELS[column] } });
      row.append(cells[column]);
    }
    this.cells.set(row, cells);
    const progress = el("progress", { max: "1", value: "0" });
    const percent = el("span", { className: "percent" });
    cells.progress.append(progress, percent);
    const retry = el("button", { type: "button", className: "retry secondary needs-operator" }, "Retry");
    const cancel = el("button", { type: "button", className: "cancel secondary needs-operator" }, "Cancel");
    retry.addEventListener("click", () => this.onRetry(row.dataset.jobId));
    cancel.addEventListener("click", () => this.onCancel(row.dataset.jobId));
    const markers = el("details", { className: "markers" }, el("summary", {}, "Markers"),
      el("div", { className: "menu" }, ...MARKER_FORMATS.map(([format, label]) => el("a", {
        href: `/api/jobs/${encodeURIComponent(job.id)}/markers?format=${format}`, download: "", dataset: { format },
      }, label))));
    cells.actions.append(retry, cancel, markers);
    this.rows.set(job.id, row);
    return row;
  }

  fill(row, job) {
    const c = this.cells.get(row);
    row.dataset.state = job.state;
    row.dataset.pipeline = job.pipeline;
    c.pipeline.replaceChildren(el("span", { className: "pipeline", title: pipelineTitle(job) }, job.pipeline));
    c.name.textContent = job.name;
    c.name.title = job.path;
    c.folder.textContent = job.folder || "/";
    c.state.replaceChildren(el("span", { className: "badge", dataset: { state: job.state } }, job.state));
    if (job.acted && job.acted_by) c.state.append(el("span", { className: "acted" }, `${job.acted} by ${job.acted_by}`));
    const done = job.state === "done" ? 1 : fraction(job.bytes_done, job.size);
    c.progress.querySelector("progress").value = done;
    c.progress.querySelector(".percent").textContent = `${Math.floor(done * 100)}% of ${bytes(job.size)}`;
    const moving = job.state === "uploading";
    c.rate.textContent = moving ? [rate(job.rate_bps), connections(job.connections)].filter(Boolean).join(" · ") : "";
    c.eta.textContent = moving ? duration(job.eta_s) : "";
    c.attempts.textContent = job.max_attempts ? `${job.attempts}/${job.max_attempts}` : String(job.attempts);
    c.error.textContent = job.error || (job.state === "waiting" ? job.waiting_reason : "");
    const url = safeHttpUrl(job.view_url);
    c.link.replaceChildren(url ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, "Open") : "");
    c.trace.replaceChildren(job.trace_id ? el("code", { title: "trace id" }, job.trace_id) : "");
    c.actions.querySelector(".retry").hidden = !RETRYABLE_STATES.has(job.state);
    c.actions.querySelector(".cancel").hidden = FINAL_STATES.has(job.state);
    c.actions.querySelector(".markers").hidden = job.state !== "done";
  }
}

// Where the job goes, for the pipeline badge's tooltip.
function pipelineTitle(job) {
  const project = job.project ? `project ${job.project}` : "the connection's project";
  const rule = job.route_rule ? ` (${job.route_rule})` : "";
  return `${job.connection || "default"} connection → ${project}${rule}`;
}

export class EventLog {
  constructor(list) {
    this.list = list;
  }

  replaceAll(entries) {
    this.list.replaceChildren();
    for (const entry of entries) this.add(entry);
  }

  add(entry) {
    const item = el("li", { dataset: { level: entry.level || "info" } },
      el("time", { datetime: entry.at || "" }, clock(entry.at)), " ",
      el("span", { className: "source" }, entry.source || ""), " ",
      el("span", { className: "message" }, entry.message || ""));
    this.list.prepend(item);
    while (this.list.children.length > MAX_EVENTS) this.list.lastElementChild.remove();
  }
}

export function renderTunnel(tunnel) {
  setText("tunnel-mode", tunnel && tunnel.mode);
  setBadge("tunnel-state", tunnel && tunnel.state);
  setText("tunnel-url", tunnel && tunnel.url);
  setText("tunnel-restarts", tunnel ? tunnel.restarts : "");
  setText("tunnel-bwlimit", tunnel ? bandwidthLimit(tunnel.bandwidth_limit_bps, tunnel.bandwidth_schedule) : "");
  setText("tunnel-message", tunnel && tunnel.message);
}

export function renderTotals(totals) {
  if (!totals) return;
  setText("totals-delivered", `${totals.files_delivered} files, ${bytes(totals.bytes_delivered)}`);
  setText("totals-seen", totals.files_seen);
  const counts = Object.entries(totals.jobs_by_state || {}).filter(([, n]) => n > 0);
  setText("totals-jobs", counts.map(([state, n]) => `${n} ${state}`).join(", ") || "none");
  setText("totals-root", totals.watch_root);
  document.getElementById("root-banner").hidden = totals.watch_root_available;
  document.getElementById("root-problem").textContent =
    totals.watch_root_available ? "" : `${totals.watch_root}: ${totals.watch_root_problem}`;
}

// The mesh certificates (null with mesh.mtls off): a banner while one expires within 30 days,
// has expired, or is missing or unusable.
export function renderCertificates(certificates) {
  const attention = (certificates || []).filter((cert) => cert.state !== "ok");
  document.getElementById("certs-banner").hidden = attention.length === 0;
  document.getElementById("certs-problem").textContent = attention.map((cert) => {
    if (cert.state === "expiring") return `${cert.identity} expires ${dateTime(cert.not_after)} (in ${cert.days_left} days)`;
    if (cert.state === "expired") return `${cert.identity} expired ${dateTime(cert.not_after)}`;
    return `${cert.identity} ${cert.state}: ${cert.problem}`;
  }).join("; ");
}

export function renderServices(services) {
  const list = document.getElementById("services");
  list.replaceChildren(...Object.entries(services || {}).map(([name, up]) =>
    el("li", { className: "service", dataset: { service: name, up: String(up) }, title: up ? "connected" : "unreachable" },
      name)));
}

export function renderConnection(state, waitMs) {
  const indicator = document.getElementById("connection");
  indicator.dataset.state = state;
  const texts = {
    connecting: "connecting…",
    live: "live",
    reconnecting: `disconnected — reconnecting in ${Math.max(1, Math.round((waitMs || 0) / 1000))} s`,
    "signed-out": "signed out",
  };
  indicator.textContent = texts[state] || state;
}
