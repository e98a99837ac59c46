// The audit panel: who did what, from GET /api/audit (admins only), newest first.

import { ApiError, getJSON } from "./api.js";
import { dateTime } from "./format.js";
import { el } from "./render.js";

const SHOWN = 200;
const COLUMNS = ["at", "service", "who", "action", "what", "outcome"];
const LABELS = { at: "Time", service: "Service", who: "Who", action: "Action", what: "What", outcome: "Outcome" };

export class AuditPanel {
  constructor({ section, tbody, empty, problem }) {
    this.section = section;
    this.tbody = tbody;
    this.empty = empty;
    this.problem = problem;
  }

  async load() {
    let answer;
    try {
      answer = await getJSON(`/api/audit?limit=${SHOWN}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) {
        this.section.hidden = true;  // not an admin
        return;
      }
      this.showProblem(`audit log unavailable: ${error.message}`);
      return;
    }
    this.section.hidden = false;
    const missing = Object.entries(answer.unavailable || {}).map(([service, why]) => `${service} (${why})`);
    this.showProblem(missing.length ? `no entries from ${missing.join(", ")}` : "");
    this.tbody.replaceChildren(...[...answer.entries].reverse().map((entry) => this.row(entry)));
    this.empty.hidden = answer.entries.length > 0;
  }

  row(entry) {
    const row = el("tr", { dataset: { outcome: entry.outcome.split(":")[0] } });
    for (const column of COLUMNS) {
      const text = column === "at" ? dateTime(entry.at) : entry[column];
      const props = { className: `audit-${column}`, dataset: { label: LABELS[column] } };
      if (column === "who" && entry.peer) props.title = `from ${entry.peer}`;
      row.append(el("td", props, text || "—"));
    }
    return row;
  }

  showProblem(message) {
    this.problem.textContent = message;
    this.problem.hidden = !message;
  }
}
