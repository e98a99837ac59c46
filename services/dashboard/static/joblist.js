// The jobs section: filters (pipeline, state, name search), one page of jobs as the server
// lists them (newest first), and live updates. A live `job` event updates its row when the job
// is on the page shown. A job created after the newest one listed that matches the filters
// refreshes the first page while it is shown, or is counted in an "N new jobs" hint on later
// pages: the browser never holds more than one page, and never the SSE snapshot's jobs.

import { timeValue } from "./format.js";
import { PagedList } from "./paging.js";
import { JobTable } from "./render.js";

const SEARCH_DELAY_MS = 300;  // typing pauses this long before the list is asked for
// New jobs arriving together refresh the first page once; a few refreshes may follow each
// other quickly, a steady flow of new jobs refreshes it once every REFRESH_EVERY_MS.
const REFRESH_DELAY_MS = 100;
const REFRESH_BURST = 5;
const REFRESH_EVERY_MS = 1000;
const REMEMBERED = 2000;  // live versions kept to correct a page asked for before they came

export class JobList {
  constructor({ controls, tbody, empty, pager, problem, hint, onRetry, onCancel }) {
    this.controls = controls;  // { pipeline, state, search, pageSize } form fields
    this.empty = empty;
    this.hint = hint;
    this.table = new JobTable({ tbody, onRetry, onCancel });
    this.pages = new PagedList({
      pager, problem, pageSize: Number(controls.pageSize.value),
      url: (token, pageSize) => this.url(token, pageSize),
      render: (answer) => this.show(answer),
      describe: (first, last, total) => (total ? `${first}–${last} of ${total}` : "0 jobs"),
    });
    this.latest = new Map();  // job id -> the newest version live events brought
    this.newestListed = 0;  // when the newest job on the first page was created
    this.newJobs = new Set();  // ids of matching jobs created since the first page was listed
    this.refreshTimer = null;
    this.refreshCredit = REFRESH_BURST;  // refreshes allowed now; one more every REFRESH_EVERY_MS
    this.creditAt = Date.now();
    this.searchTimer = null;
    controls.pipeline.addEventListener("change", () => this.filter());
    controls.state.addEventListener("change", () => this.filter());
    controls.search.addEventListener("input", () => {
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => this.filter(), SEARCH_DELAY_MS);
    });
    controls.pageSize.addEventListener("change", () => {
      this.pages.pageSize = Number(controls.pageSize.value);
      this.filter();
    });
    hint.querySelector("button").addEventListener("click", () => this.filter());
  }

  get filters() {
    return {
      pipeline: this.controls.pipeline.value,
      state: this.controls.state.value,
      q: this.controls.search.value.trim(),
    };
  }

  url(token, pageSize) {
    const params = new URLSearchParams({ page_size: String(pageSize) });
    for (const [name, value] of Object.entries(this.filters)) {
      if (value) params.set(name, value);
    }
    if (token) params.set("page_token", token);
    return `/api/jobs?${params}`;
  }

  // The first page of what the filters choose.
  filter() {
    clearTimeout(this.searchTimer);
    return this.pages.first();
  }

  // The page shown, again: after a reconnect, its jobs may have changed in ways no event said.
  reload() {
    return this.pages.load();
  }

  showProblem(message) {
    this.pages.showProblem(message);
  }

  show(answer) {
    const jobs = answer.jobs.map((job) => this.newest(job));
    this.table.replaceAll(jobs);
    if (this.pages.onFirstPage) {
      this.newestListed = Math.max(0, ...jobs.map((job) => timeValue(job.created_at)));
      this.newJobs.clear();
    }
    this.showHint();
    const { pipeline, state, q } = this.filters;
    this.empty.textContent = pipeline || state || q ? "No jobs match these filters."
      : "No jobs yet. Files dropped into a watch folder appear here.";
    this.empty.hidden = jobs.length > 0;
    return jobs.length;
  }

  onJob(job) {
    this.remember(job);
    if (this.table.update(job) || this.newJobs.has(job.id)) return;
    if (timeValue(job.created_at) < this.newestListed || !this.matches(job)) return;
    this.newJobs.add(job.id);
    if (this.pages.onFirstPage) this.scheduleRefresh();
    else this.showHint();
  }

  matches(job) {
    const { pipeline, state, q } = this.filters;
    return (!pipeline || job.pipeline === pipeline) && (!state || job.state === state)
      && (!q || job.path.toLowerCase().includes(q.toLowerCase()));
  }

  scheduleRefresh() {
    if (this.refreshTimer) return;
    const now = Date.now();
    this.refreshCredit = Math.min(REFRESH_BURST, this.refreshCredit + (now - this.creditAt) / REFRESH_EVERY_MS);
    this.creditAt = now;
    const delayMs = Math.max(REFRESH_DELAY_MS, (1 - this.refreshCredit) * REFRESH_EVERY_MS);
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      this.refreshCredit -= 1;
      if (this.pages.onFirstPage) this.reload();
    }, delayMs);
  }

  showHint() {
    const count = this.newJobs.size;
    this.hint.hidden = count === 0 || this.pages.onFirstPage;
    this.hint.querySelector(".hint-text").textContent = `${count} new job${count === 1 ? "" : "s"}`;
  }

  remember(job) {
    this.latest.delete(job.id);
    this.latest.set(job.id, job);
    if (this.latest.size > REMEMBERED) this.latest.delete(this.latest.keys().next().value);
  }

  // A listed job, or the version a live event brought since, if that is at least as new: the
  // stream delivers every change in order, so a tie is resolved by the next event if ever wrong.
  newest(job) {
    const live = this.latest.get(job.id);
    return live && timeValue(live.updated_at) >= timeValue(job.updated_at) ? live : job;
  }
}
