// The audit panel: who did what, from GET /api/audit (admins only), newest first.

import { AdminPanel } from "./adminpanel.js";
import { dateTime } from "./format.js";
import { el } from "./render.js";

const SHOWN = 200;
const COLUMNS = ["at", "service", "who", "action", "what", "outcome"];
const LABELS = { at: "Time", service: "Service", who: "Who", action: "Action", what: "What", outcome: "Outcome" };

export class AuditPanel extends AdminPanel {
  async load() {
    const answer = await this.fetch(`/api/audit?limit=${SHOWN}`, "audit log");
    if (!answer) return;
    const missing = Object.entries(answer.unavailable || {}).map(([service, why]) => `${service} (${why})`);
    this.showProblem(missing.length ? `no entries from ${missing.join(", ")}` : "");
    this.showRows([...answer.entries].reverse().map((entry) => this.row(entry)));
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
}
