// An item's or a job's detail inside the page: what is decided on (its facts, a render's
// content and files with a preview of each), or how far a job has got. Built from the API's
// JSON with DOM nodes only: no HTML strings, and a file's markup is never put in the page.

import { h } from "./dom.js";
import { actionButtons, counted, when } from "./items.js";

const PREVIEW_LINES = 20;
const PREVIEW_BYTES = 64 * 1024;

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

function facts(pairs) {
  const rows = pairs.filter(([, value]) => value !== null && value !== undefined && value !== "");
  if (rows.length === 0) return null;
  return h("dl", { class: "facts" }, rows.map(([label, value]) => [h("dt", {}, label), h("dd", {}, value)]));
}

/** Structured content as nested lists a person reads: keys as names, never JSON text. */
export function formatted(value, depth = 0) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "empty");
  if (Array.isArray(value)) {
    if (value.length === 0) return h("span", { class: "muted" }, "none");
    return h("ol", { class: "content-list" }, value.map((entry) => h("li", {}, formatted(entry, depth + 1))));
  }
  if (typeof value === "object") {
    const entries = Object.entries(value);
    if (entries.length === 0) return h("span", { class: "muted" }, "none");
    return h(
      "dl",
      { class: depth === 0 ? "content" : "content nested" },
      entries.map(([key, entry]) => [h("dt", {}, key.replace(/_/g, " ")), h("dd", {}, formatted(entry, depth + 1))]),
    );
  }
  if (typeof value === "boolean") return value ? "yes" : "no";
  return String(value);
}

function isImage(file) {
  return /^image\/(png|jpeg|gif|webp|svg\+xml|avif|bmp)$/i.test(file.media_type);
}

function isText(file) {
  return /^text\//i.test(file.media_type) || /\.(csv|txt|md|log|tsv)$/i.test(file.filename);
}

/** The first lines of a text file, read no further than PREVIEW_BYTES. */
async function firstLines(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok || !response.body) throw new Error(`status ${response.status}`);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let read = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    read += value.length;
    text += decoder.decode(value, { stream: true });
    if (text.split("\n").length > PREVIEW_LINES || read >= PREVIEW_BYTES) {
      reader.cancel();
      break;
    }
  }
  const lines = text.split("\n");
  const shown = lines.slice(0, PREVIEW_LINES);
  if (shown.length && shown[shown.length - 1] === "") shown.pop();
  return { text: shown.join("\n"), more: lines.length > PREVIEW_LINES || read >= PREVIEW_BYTES };
}

function preview(file) {
  if (isImage(file)) {
    // An <img> never runs an SVG's script; the file's own answer is sandboxed besides.
    return h("img", { class: "preview-image", src: file.url, alt: `Preview of ${file.filename}`, loading: "lazy" });
  }
  if (isText(file)) {
    const box = h("pre", { class: "preview-text", tabIndex: 0, "aria-label": `First lines of ${file.filename}` }, "Loading…");
    firstLines(file.url).then(
      ({ text, more }) => {
        box.textContent = text || "(empty file)";
        if (more) box.after(h("p", { class: "muted" }, `First ${PREVIEW_LINES} lines shown.`));
      },
      () => {
        box.textContent = "The preview could not be loaded.";
      },
    );
    return box;
  }
  return h("p", { class: "muted" }, "No preview for this kind of file.");
}

function fileList(files) {
  return h(
    "ul",
    { class: "files" },
    files.map((file) =>
      h(
        "li",
        { class: "file" },
        h(
          "div",
          { class: "file-head" },
          h("span", { class: "file-name" }, file.filename),
          h("span", { class: "muted" }, ` ${file.media_type} · ${bytes(file.byte_size)} `),
          h("a", { href: file.url, target: "_blank", rel: "noopener" }, "Open", h("span", { class: "visually-hidden" }, ` ${file.filename}`)),
        ),
        preview(file),
      ),
    ),
  );
}

/** The body of an item's detail (GET .../{collection}/{id}); `decide` takes one of its actions. */
export function itemDetail(item, decide, decidedWords) {
  const last = item.last_decision;
  return [
    h("p", { class: "detail-meta" }, item.engagement_name, item.created_at ? [" · waiting since ", when(item.created_at)] : null),
    h("p", {}, item.detail),
    facts(item.facts.map((fact) => [fact.label, fact.value])),
    item.inline_content !== null && item.inline_content !== undefined
      ? h("section", { class: "detail-part" }, h("h3", {}, "Content"), formatted(item.inline_content))
      : null,
    item.files.length > 0
      ? h("section", { class: "detail-part" }, h("h3", {}, item.files.length === 1 ? "File" : `Files (${item.files.length})`), fileList(item.files))
      : null,
    last
      ? h("p", { class: "muted" }, `${decidedWords(item.item_kind, last.decision)} by ${last.decided_by.display_name} `, when(last.decided_at))
      : null,
    item.actions.length > 0 ? actionButtons(item, decide, null) : null,
    h("p", { class: "outcome", role: "status" }),
  ];
}

/** The body of a job's detail (GET /engagements/{eid}/jobs/{id}): status, timings, progress. */
export function jobDetail(job) {
  const progress = job.progress || {};
  const parts =
    progress.mode === "composite"
      ? `${progress.children} in all · ${progress.failed} failed · ${progress.partial} partial`
      : null;
  return [
    h("p", { class: "detail-meta" }, job.engagement_name),
    facts([
      ["Status", job.status_label],
      ["Progress", job.progress_hint],
      ["Parts", parts],
      ["Started", when(job.started_at)],
      ["Finished", job.completed_at ? when(job.completed_at) : null],
    ]),
    counted(progress)
      ? h("progress", { value: progress.processed, max: progress.total, "aria-label": `${job.job_label}: ${progress.processed} of ${progress.total}` })
      : null,
  ];
}
