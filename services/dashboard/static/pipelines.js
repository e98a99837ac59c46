// The pipelines: the choices of the pipeline filter, each with its job count (GET
// /api/pipelines, asked again at most every REFRESH_MS while jobs change), and the unrouted
// files — in a pipeline's root, matching none of its rules: listed, not uploaded, not lost —
// of the pipeline chosen (or of all), a page at a time.

import { getJSON } from "./api.js";
import { bytes, dateTime } from "./format.js";
import { PagedList } from "./paging.js";
import { el } from "./render.js";

const REFRESH_MS = 1000;
const UNROUTED_PAGE = 50;

function choice(pipeline) {
  const problem = pipeline.root_available ? "" : " — root unavailable";
  return el("option", {
    value: pipeline.name, dataset: { jobs: String(pipeline.jobs), unrouted: String(pipeline.unrouted) },
    title: `${pipeline.root} → ${pipeline.connection} connection${pipeline.project ? `, project ${pipeline.project}` : ""}`
      + (pipeline.root_problem ? ` (${pipeline.root_problem})` : ""),
  }, `${pipeline.name} (${pipeline.jobs})${problem}`);
}

export class PipelineFilter {
  constructor({ select, problem, onLoaded }) {
    this.select = select;
    this.problem = problem;
    this.onLoaded = onLoaded;
    this.timer = null;
  }

  async load() {
    let answer;
    try {
      answer = await getJSON("/api/pipelines");
    } catch (error) {
      this.problem.textContent = `pipelines unavailable: ${error.message}`;
      this.problem.hidden = false;
      return;
    }
    this.problem.hidden = true;
    this.render(answer.pipelines);
    this.onLoaded(answer.pipelines);
  }

  // Jobs changed: their counts will be asked for soon, once for many changes.
  changed() {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.load();
    }, REFRESH_MS);
  }

  render(pipelines) {
    const chosen = this.select.value;
    const total = pipelines.reduce((sum, pipeline) => sum + pipeline.jobs, 0);
    const options = [el("option", { value: "", dataset: { jobs: String(total) } }, `All pipelines (${total})`),
      ...pipelines.map(choice)];
    if (chosen && !pipelines.some((pipeline) => pipeline.name === chosen)) {
      options.push(el("option", { value: chosen }, `${chosen} (not running)`));
    }
    const current = [...this.select.options];
    if (current.map((option) => option.value).join("\n") === options.map((option) => option.value).join("\n")) {
      // The same choices: new counts in place, so a list someone has open stays open.
      current.forEach((option, index) => {
        option.textContent = options[index].textContent;
        option.title = options[index].title;
        Object.assign(option.dataset, options[index].dataset);
      });
      return;
    }
    this.select.replaceChildren(...options);
    this.select.value = chosen;
  }
}

export class UnroutedPanel {
  constructor({ section, tbody, empty, count, pager, problem, pipeline }) {
    this.section = section;
    this.tbody = tbody;
    this.empty = empty;
    this.count = count;
    this.pipeline = pipeline;  // the pipeline filter's field
    this.known = null;  // unrouted files per pipeline, as /api/pipelines said last
    this.pages = new PagedList({
      pager, problem, pageSize: UNROUTED_PAGE,
      url: (token, pageSize) => {
        const params = new URLSearchParams({ page_size: String(pageSize) });
        if (this.pipeline.value) params.set("pipeline", this.pipeline.value);
        if (token) params.set("page_token", token);
        return `/api/unrouted?${params}`;
      },
      render: (answer) => this.show(answer),
      describe: (first, last, total) => (total ? `${first}–${last} of ${total}` : ""),
    });
    pipeline.addEventListener("change", () => {
      if (!this.section.hidden) this.pages.first();
    });
  }

  // What /api/pipelines said: shown only when some pipeline has unrouted files; listed again
  // when their number changed.
  update(pipelines) {
    const known = JSON.stringify(pipelines.map((pipeline) => [pipeline.name, pipeline.unrouted]));
    const total = pipelines.reduce((sum, pipeline) => sum + pipeline.unrouted, 0);
    this.section.hidden = total === 0;
    this.count.textContent = total ? `(${total})` : "";
    if (known !== this.known && total) this.pages.first();
    this.known = known;
  }

  show(answer) {
    this.tbody.replaceChildren(...answer.files.map((file) => el("tr", { dataset: { pipeline: file.pipeline } },
      el("td", { className: "col-pipeline", dataset: { label: "Pipeline" } },
        el("span", { className: "pipeline" }, file.pipeline)),
      el("td", { className: "col-path", dataset: { label: "Path" } }, file.path),
      el("td", { dataset: { label: "Size" } }, bytes(file.size)),
      el("td", { className: "col-reason", dataset: { label: "Reason" } }, file.reason),
      el("td", { dataset: { label: "Seen" } }, dateTime(file.seen_at)))));
    this.empty.hidden = answer.files.length > 0;
    this.empty.textContent = `No unrouted files${this.pipeline.value ? ` in ${this.pipeline.value}` : ""}.`;
    return answer.files.length;
  }
}
