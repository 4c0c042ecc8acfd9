// One list item per dashboard item: built from the API's JSON, never from HTML strings.

import { h, hidden } from "./dom.js";

export function ago(iso, now = Date.now()) {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 36) return `${hours} h ago`;
  const days = Math.round(hours / 24);
  return `${days} day${days === 1 ? "" : "s"} ago`;
}

export function when(iso) {
  const exact = new Date(iso).toLocaleString(undefined, {
    dateStyle: "medium",
    timeStyle: "medium",
  });
  return h("time", { dateTime: iso, title: exact, "data-relative": "" }, ago(iso));
}

/** True only when the API says the numbers are real: a bar anywhere else would lie. */
export function counted(progress) {
  return (
    progress &&
    progress.mode === "counted" &&
    Number.isInteger(progress.processed) &&
    Number.isInteger(progress.total) &&
    progress.total > 0
  );
}

/** The item's title: a button that opens its detail inside the page (never raw JSON). */
function title(item, label, open) {
  if (!item.detail_url || !open) return h("span", { class: "item-title" }, label);
  return h(
    "button",
    {
      type: "button",
      class: "item-title link",
      "data-focus": "title",
      "data-open": "",
      "aria-haspopup": "dialog",
      onclick: () => open(item.detail_url),
    },
    label,
  );
}

export function activeItem(item, { open } = {}) {
  const progress = item.progress || {};
  return h(
    "li",
    { class: "item", tabIndex: -1 },
    title(item, item.item_label, open),
    h("div", { class: "item-meta" }, item.engagement_name, " · started ", when(item.started_at)),
    counted(progress)
      ? h("progress", {
          value: progress.processed,
          max: progress.total,
          "aria-label": `${item.item_label}: ${progress.processed} of ${progress.total}`,
        })
      : null,
    item.progress_hint
      ? h("p", { class: progress.stalled ? "hint stalled" : "hint" }, item.progress_hint)
      : null,
  );
}

export function needsYouItem(item, { decide, open, triage } = {}) {
  const decidable = item.actions && item.actions.length > 0;
  // The claim line, the snooze menu and the overdue mark (triage.js), when the page has them.
  const extra = triage ? triage(item) : { mark: null, controls: null };
  const noteId = `note-${item.item_kind}-${item.item_id}`;
  return h(
    "li",
    { class: "item", tabIndex: -1 },
    h(
      "div",
      { class: "select-row" },
      decidable
        ? h("input", {
            type: "checkbox",
            class: "select",
            "data-keep": "select",
            "data-focus": "select",
            "aria-label": `Select ${item.item_label}`,
          })
        : null,
      title(item, item.item_label, open),
      extra.controls ? h("div", { class: "triage" }, extra.controls) : null,
    ),
    h("p", { class: "item-detail" }, item.detail),
    h(
      "div",
      { class: "item-foot" },
      h(
        "span",
        { class: "item-meta" },
        item.engagement_name,
        " · ",
        // Overdue: the word instead of the age (kept for screen readers and on hover).
        extra.mark,
        hidden(extra.mark ? ", waiting since " : "waiting since "),
        overdueAge(when(item.created_at), extra.mark),
      ),
      decidable ? actionButtons(item, decide, noteId) : null,
    ),
    decidable ? noteField(item, noteId) : null,
    h("p", { class: "outcome", role: "status" }),
  );
}

function overdueAge(time, mark) {
  if (!mark) return time;
  mark.title = `Waiting since ${time.title}`;
  time.classList.add("visually-hidden");
  return time;
}

/** One button per decision the API offers, and one that opens the note field. */
export function actionButtons(item, decide, noteId) {
  return h(
    "div",
    { class: "actions" },
    item.actions.map((action) =>
      h(
        "button",
        {
          type: "button",
          "data-decision": action.decision,
          "data-focus": `decide-${action.decision}`,
          onclick: () => decide(action),
        },
        action.label,
      ),
    ),
    noteId
      ? h(
          "button",
          {
            type: "button",
            class: "quiet add-note",
            "data-focus": "add-note",
            "aria-expanded": "false",
            "aria-controls": noteId,
            onclick: (event) => openNote(event.currentTarget.closest("li")),
          },
          "Add note",
          hidden(` on ${item.item_label}`),
        )
      : null,
  );
}

function noteField(item, noteId) {
  return h(
    "label",
    { class: "note", id: noteId, hidden: true },
    "Note",
    hidden(` on ${item.item_label}`),
    h("input", {
      type: "text",
      maxLength: 2000,
      "data-keep": "note",
      "data-focus": "note",
      autocomplete: "off",
    }),
  );
}

/** Show an item's note field (it stays closed until asked for); focus it unless told not to. */
export function openNote(node, { focus = true } = {}) {
  const field = node && node.querySelector(".note");
  if (!field) return;
  field.hidden = false;
  const toggle = node.querySelector(".add-note");
  if (toggle) toggle.setAttribute("aria-expanded", "true");
  if (focus) field.querySelector("input").focus();
}

export function recentItem(item) {
  return h(
    "li",
    { class: "item", tabIndex: -1 },
    h("span", { class: "item-title" }, item.artifact_label),
    h("div", { class: "item-meta" }, item.engagement_name, " · completed ", when(item.completed_at)),
    item.download_url
      ? h(
          "a",
          { href: item.download_url, download: "", "data-focus": "download" },
          "Download",
          hidden(` ${item.artifact_label}`),
        )
      : null,
  );
}

export function refreshTimes(root, now = Date.now()) {
  for (const node of root.querySelectorAll("time[data-relative]")) {
    const text = ago(node.dateTime, now);
    if (node.textContent !== text) node.textContent = text;
  }
}
