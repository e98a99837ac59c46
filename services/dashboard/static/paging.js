// A list the server pages: the browser holds the page shown and the tokens of the pages
// before it (to go back), never the whole list. Only the newest request's answer is shown,
// and the pager's buttons wait while a page loads, so a quick double click never skips a page.

import { getJSON } from "./api.js";
import { el } from "./render.js";

export class PagedList {
  // `url(token, pageSize)`: the address of the page after `token` ("" for the first);
  // `render(answer)` shows `{items…, next_page_token, total}` and says how many items it shows;
  // `describe(first, last, total)`: the pager's text, between its buttons in `pager`.
  constructor({ pager, problem, url, render, describe, pageSize = 50 }) {
    this.prevButton = el("button", { type: "button", className: "page-prev secondary", disabled: "" }, "‹ Previous");
    this.info = el("span", { className: "page-info", role: "status" });
    this.nextButton = el("button", { type: "button", className: "page-next secondary", disabled: "" }, "Next ›");
    pager.replaceChildren(this.prevButton, this.info, this.nextButton);
    this.problem = problem;
    this.url = url;
    this.render = render;
    this.describe = describe;
    this.pageSize = pageSize;
    this.tokens = [""];  // the token of each page up to the one shown
    this.nextToken = "";
    this.loading = 0;  // the request whose answer is awaited (0: none)
    this.requests = 0;
    this.prevButton.addEventListener("click", () => this.back());
    this.nextButton.addEventListener("click", () => this.forward());
  }

  get onFirstPage() {
    return this.tokens.length === 1;
  }

  first() {
    this.tokens = [""];
    return this.load();
  }

  forward() {
    if (!this.nextToken || this.loading) return Promise.resolve();
    this.tokens.push(this.nextToken);
    return this.load();
  }

  back() {
    if (this.onFirstPage || this.loading) return Promise.resolve();
    this.tokens.pop();
    return this.load();
  }

  // The page shown, again (its rows may have changed, or come and gone).
  async load() {
    this.requests += 1;
    const request = this.requests;
    this.loading = request;
    this.updateButtons();
    let answer;
    try {
      answer = await getJSON(this.url(this.tokens[this.tokens.length - 1], this.pageSize));
    } catch (error) {
      if (request === this.requests) this.fail(error);
      return;
    }
    if (request !== this.requests) return;  // a newer request was made meanwhile
    this.loading = 0;
    this.nextToken = answer.next_page_token;
    this.showProblem("");
    const shown = this.render(answer);
    const offset = (this.tokens.length - 1) * this.pageSize;
    this.info.textContent = this.describe(shown ? offset + 1 : 0, offset + shown, answer.total);
    this.updateButtons();
  }

  fail(error) {
    this.loading = 0;
    this.nextToken = "";  // until this page loads; Previous still goes back
    this.showProblem(error.message);
    this.updateButtons();
  }

  updateButtons() {
    this.prevButton.disabled = this.onFirstPage || Boolean(this.loading);
    this.nextButton.disabled = !this.nextToken || Boolean(this.loading);
  }

  showProblem(message) {
    this.problem.textContent = message ? `could not load the list: ${message}` : "";
    this.problem.hidden = !message;
  }
}
