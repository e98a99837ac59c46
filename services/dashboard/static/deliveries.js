// The deliveries panel: the watcher's log of webhooks and notifications, from
// GET /api/deliveries (admins only), newest first, each with a Replay button.

import { AdminPanel } from "./adminpanel.js";
import { postJSON } from "./api.js";
import { dateTime } from "./format.js";
import { el } from "./render.js";

const SHOWN = 100;
const COLUMNS = ["created_at", "target", "event", "path", "status", "attempts", "last_error", "actions"];
const LABELS = {
  created_at: "Time", target: "Target", event: "Event", path: "File", status: "Status", attempts: "Attempts",
  last_error: "Last error", actions: "",
};

export class DeliveriesPanel extends AdminPanel {
  async load() {
    const answer = await this.fetch(`/api/deliveries?limit=${SHOWN}`, "delivery log");
    if (!answer) return;
    this.showProblem("");
    this.showRows(answer.deliveries.map((delivery) => this.row(delivery)));
  }

  async replay(id) {
    try {
      await postJSON(`/api/deliveries/${encodeURIComponent(id)}/replay`);
    } catch (error) {
      this.showProblem(`replay failed: ${error.message}`);
      return;
    }
    await this.load();
  }

  row(delivery) {
    const row = el("tr", { dataset: { deliveryId: String(delivery.id), status: delivery.status } });
    for (const column of COLUMNS) {
      const cell = el("td", { className: `delivery-${column}`, dataset: { label: LABELS[column] } });
      if (column === "actions") {
        if (delivery.status !== "unconfigured") {
          const button = el("button", { type: "button", className: "secondary needs-admin" }, "Replay");
          button.addEventListener("click", () => this.replay(delivery.id));
          cell.append(button);
        }
      } else {
        const text = column === "created_at" ? dateTime(delivery.created_at) : delivery[column];
        cell.textContent = text === "" || text === null || text === undefined ? "—" : String(text);
      }
      if (column === "path" && delivery.job_id) cell.title = `job ${delivery.job_id}`;
      row.append(cell);
    }
    return row;
  }
}
