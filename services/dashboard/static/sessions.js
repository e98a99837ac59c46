// The sessions panel: who is signed in, from GET /api/sessions (admins only), each person with
// a Revoke button ending all their sessions at once (POST /api/sessions/revoke).

import { AdminPanel } from "./adminpanel.js";
import { postJSON } from "./api.js";
import { dateTime } from "./format.js";
import { el } from "./render.js";

export class SessionsPanel extends AdminPanel {
  async load() {
    const answer = await this.fetch("/api/sessions", "sessions");
    if (!answer) return;
    this.showProblem("");
    this.showRows(answer.sessions.map((session) => this.row(session)));
  }

  row(session) {
    const revoke = el("button", { type: "button", className: "secondary revoke" }, "Revoke");
    revoke.addEventListener("click", () => this.revoke(session.email));
    return el("tr", { dataset: { handle: session.handle } },
      el("td", { title: session.email }, session.name || session.email),
      el("td", {}, session.role),
      el("td", {}, session.pipelines ? session.pipelines.join(", ") : "all"),
      el("td", {}, dateTime(session.created)),
      el("td", {}, dateTime(session.expires)),
      el("td", {}, revoke));
  }

  async revoke(email) {
    try {
      await postJSON("/api/sessions/revoke", { email });
    } catch (error) {
      this.showProblem(`revoking ${email} failed: ${error.message}`);
      return;
    }
    await this.load();
  }
}
