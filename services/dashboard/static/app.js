// The PostFlow dashboard: sign in if the dashboard asks for it, then follow /events. Jobs and
// unrouted files are listed a page at a time from the REST API; /events keeps them current.

import { ApiError, getJSON, postJSON } from "./api.js";
import { AuditPanel } from "./audit.js";
import { SessionsPanel } from "./sessions.js";
import { DeliveriesPanel } from "./deliveries.js";
import { ConnectionPanel } from "./frameio.js";
import { JobList } from "./joblist.js";
import { PipelineFilter, UnroutedPanel } from "./pipelines.js";
import {
  EventLog, renderCertificates, renderConnection, renderServices, renderTotals, renderTunnel,
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

// A link in a notification or webhook (`/?q=PATH`) opens the list searched for that file.
$("filter-search").value = new URLSearchParams(window.location.search).get("q") || "";

const jobs = new JobList({
  controls: { pipeline: $("filter-pipeline"), state: $("filter-state"), search: $("filter-search"),
              pageSize: $("page-size") },
  tbody: $("job-rows"),
  empty: $("no-jobs"),
  pager: $("job-pager"),
  problem: $("jobs-problem"),
  hint: $("new-jobs"),
  onRetry: (id) => act("retry", () => postJSON(`/api/jobs/${encodeURIComponent(id)}/retry`)),
  onCancel: (id) => act("cancel", () => postJSON(`/api/jobs/${encodeURIComponent(id)}/cancel`)),
});
$("job-filters").addEventListener("submit", (event) => {
  event.preventDefault();
  jobs.filter();
});

const unrouted = new UnroutedPanel({
  section: $("unrouted"), tbody: $("unrouted-rows"), empty: $("no-unrouted"), count: $("unrouted-count"),
  pager: $("unrouted-pager"), problem: $("unrouted-problem"), pipeline: $("filter-pipeline"),
});
const pipelines = new PipelineFilter({
  select: $("filter-pipeline"), problem: $("pipelines-problem"), onLoaded: (list) => unrouted.update(list),
});

// The lists are asked for again whenever the stream starts over (a snapshot) and when the
// watcher is back after an outage (changes made meanwhile may not all come as events); not
// while the watcher is known to be unreachable.
let watcherUp = false;
function onServices(services) {
  const back = Boolean(services && services.watcher) && !watcherUp;
  watcherUp = Boolean(services && services.watcher);
  renderServices(services);
  return back;
}

function relist() {
  if (!watcherUp) {
    jobs.showProblem("the watcher is unreachable; the list is back with it");
    return;
  }
  jobs.reload();
  pipelines.load();
}

const audit = new AuditPanel({
  section: $("audit"), tbody: $("audit-rows"), empty: $("no-audit"), problem: $("audit-problem"),
});
$("audit-refresh").addEventListener("click", () => audit.load());

const sessions = new SessionsPanel({
  section: $("sessions"), tbody: $("sessions-rows"), empty: $("no-sessions"), problem: $("sessions-problem"),
});
$("sessions-refresh").addEventListener("click", () => sessions.load());

const deliveries = new DeliveriesPanel({
  section: $("deliveries"), tbody: $("delivery-rows"), empty: $("no-deliveries"), problem: $("deliveries-problem"),
});
$("deliveries-refresh").addEventListener("click", () => deliveries.load());

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
    events.replaceAll(state.events);
    frameio.replaceAll(state.connections || []);
    renderTunnel(state.tunnel);
    renderTotals(state.totals);
    onServices(state.services);
    renderCertificates(state.certificates);
    relist();
  },
  job: (job) => jobs.onJob(job),
  tunnel: renderTunnel,
  auth: (view) => frameio.update(view),
  totals(totals) {
    renderTotals(totals);
    pipelines.changed();
  },
  services(services) {
    if (onServices(services)) relist();
  },
  certificates: renderCertificates,
  log: (entry) => events.add(entry),
  ping: () => {},
};

let me = null;  // who /api/me says this browser is

// Who is signed in (the top bar, for a person signed in with OpenID Connect) and their role:
// body[data-role] hides what the role may not do (style.css: .needs-operator, .needs-admin).
async function whoAmI() {
  me = await getJSON("/api/me");
  document.body.dataset.role = me.role;
  $("whoami").hidden = !me.email;
  $("whoami-name").textContent = me.name || "";
  $("whoami-name").title = me.email || "";
  $("whoami-role").textContent = me.role;
  $("sign-out").hidden = !me.email;
}

// A session that ends (expired, signed out elsewhere, revoked): a person signs in again at
// the identity provider (the page sends them there), anyone else with the access token.
function onSessionEnded() {
  if (me && me.email) window.location.assign("/");
  else showLogin();
}

function showLogin() {
  $("dashboard").hidden = true;
  $("login").hidden = false;
  $("login-token").focus();
}

function startLive() {
  $("login").hidden = true;
  $("dashboard").hidden = false;
  new LiveStream({ handlers, onState: renderConnection, onUnauthorized: onSessionEnded }).start();
  audit.load();
  sessions.load();
  deliveries.load();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    await postJSON("/api/login", { token: $("login-token").value });
    $("login-token").value = "";
    await whoAmI();
    startLive();
  } catch (error) {
    $("login-error").textContent = error.message;
  }
});

async function boot() {
  try {
    await whoAmI();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      showLogin();
      return;
    }
    note("error", `who is signed in is unknown (${error.message}): no actions offered`);
  }
  startLive();
}

boot();
