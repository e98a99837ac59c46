// The PostFlow dashboard: sign in if the dashboard asks for it, then follow /events.

import { ApiError, getJSON, postJSON } from "./api.js";
import { AuditPanel } from "./audit.js";
import { ConnectionPanel } from "./frameio.js";
import {
  EventLog, JobTable, renderCertificates, renderConnection, renderServices, renderTotals, renderTunnel,
} from "./render.js";
import { LiveStream } from "./stream.js";

const $ = (id) => document.getElementById(id);
const events = new EventLog($("events"));

function note(level, message) {
  events.add({ at: new Date().toISOString(), source: "dashboard", level, message });
}

async function act(what, call) {
  try {
    await call();
  } catch (error) {
    note("error", `${what} failed: ${error.message}`);
  }
}

const jobs = new JobTable({
  tbody: $("job-rows"),
  empty: $("no-jobs"),
  onRetry: (id) => act("retry", () => postJSON(`/api/jobs/${encodeURIComponent(id)}/retry`)),
  onCancel: (id) => act("cancel", () => postJSON(`/api/jobs/${encodeURIComponent(id)}/cancel`)),
});

const audit = new AuditPanel({
  section: $("audit"), tbody: $("audit-rows"), empty: $("no-audit"), problem: $("audit-problem"),
});
$("audit-refresh").addEventListener("click", () => audit.load());

const frameio = new ConnectionPanel({
  list: $("frameio-connections"),
  banner: $("reconnect-banner"),
  bannerMessage: $("reconnect-message"),
  bannerLink: $("reconnect-link"),
  onDisconnect: (name) => act("disconnect", async () => frameio.update(
    await postJSON(`/api/auth/disconnect?connection=${encodeURIComponent(name)}`))),
});

const handlers = {
  snapshot(state) {
    jobs.replaceAll(state.jobs);
    events.replaceAll(state.events);
    frameio.replaceAll(state.connections || []);
    renderTunnel(state.tunnel);
    renderTotals(state.totals);
    renderServices(state.services);
    renderCertificates(state.certificates);
  },
  job: (job) => jobs.upsert(job),
  tunnel: renderTunnel,
  auth: (view) => frameio.update(view),
  totals: renderTotals,
  services: renderServices,
  certificates: renderCertificates,
  log: (entry) => events.add(entry),
  ping: () => {},
};

function showLogin() {
  $("dashboard").hidden = true;
  $("login").hidden = false;
  $("login-token").focus();
}

function startLive() {
  $("login").hidden = true;
  $("dashboard").hidden = false;
  new LiveStream({ handlers, onState: renderConnection, onUnauthorized: showLogin }).start();
  audit.load();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    await postJSON("/api/login", { token: $("login-token").value });
    $("login-token").value = "";
    startLive();
  } catch (error) {
    $("login-error").textContent = error.message;
  }
});

async function boot() {
  try {
    await getJSON("/api/status");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      showLogin();
      return;
    }
  }
  startLive();
}

boot();
