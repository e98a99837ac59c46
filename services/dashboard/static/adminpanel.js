// A panel only admins see (the audit log, the delivery log): hidden for anyone else (403),
// a problem line when its list cannot be had, an "empty" note when the list is empty.

import { ApiError, getJSON } from "./api.js";

export class AdminPanel {
  constructor({ section, tbody, empty, problem }) {
    this.section = section;
    this.tbody = tbody;
    this.empty = empty;
    this.problem = problem;
  }

  // The answer of GET `url`, or null (the panel hidden for a non-admin, or the problem shown).
  async fetch(url, what) {
    try {
      const answer = await getJSON(url);
      this.section.hidden = false;
      return answer;
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) {
        this.section.hidden = true;  // not an admin
      } else {
        this.showProblem(`${what} unavailable: ${error.message}`);
      }
      return null;
    }
  }

  showRows(rows) {
    this.tbody.replaceChildren(...rows);
    this.empty.hidden = rows.length > 0;
  }

  showProblem(message) {
    this.problem.textContent = message;
    this.problem.hidden = !message;
  }
}
