// One list item per dashboard item: built from the API's JSON, never from HTML strings.

export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("data-") || name.startsWith("aria-") || name === "role")
      node.setAttribute(name, value);
    else if (name in node) node[name] = value;
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

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

function when(iso) {
  const exact = new Date(iso).toLocaleString(undefined, {
    dateStyle: "medium",
    timeStyle: "medium",
  });
  return h("time", { dateTime: iso, title: exact, "data-relative": "" }, ago(iso));
}

function hidden(text) {
  return h("span", { class: "visually-hidden" }, text);
}

/** True only when the API says the numbers are real: a bar anywhere else would lie. */
function counted(progress) {
  return (
    progress &&
    progress.mode === "counted" &&
    Number.isInteger(progress.processed) &&
    Number.isInteger(progress.total) &&
    progress.total > 0
  );
}

export function activeItem(item) {
  const progress = item.progress || {};
  return h(
    "li",
    { class: "item" },
    h("a", { class: "item-title", href: item.detail_url, "data-focus": "detail" }, item.item_label),
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

export function needsYouItem(item, onDecide) {
  const decidable = item.actions && item.actions.length > 0;
  return h(
    "li",
    { class: "item" },
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
      h("span", { class: "item-title" }, item.item_label),
    ),
    h("div", { class: "item-meta" }, item.engagement_name, " · waiting since ", when(item.created_at)),
    h("p", { class: "item-detail" }, item.detail),
    decidable
      ? h(
          "label",
          { class: "note" },
          "Note",
          hidden(` on ${item.item_label}`),
          h("input", {
            type: "text",
            maxLength: 2000,
            "data-keep": "note",
            "data-focus": "note",
            autocomplete: "off",
          }),
        )
      : null,
    decidable
      ? h(
          "div",
          { class: "actions" },
          item.actions.map((action) =>
            h(
              "button",
              {
                type: "button",
                "data-decision": action.decision,
                "data-focus": `decide-${action.decision}`,
                onclick: () => onDecide(action),
              },
              action.label,
            ),
          ),
        )
      : null,
    h("p", { class: "outcome", role: "status" }),
  );
}

export function recentItem(item) {
  return h(
    "li",
    { class: "item" },
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
