// The zones' sections and their cards: drawn from the registry, read page by page with
// If-None-Match, and redrawn in place (what the person typed, ticked or focused is kept).

import { decide, refreshSnoozed, renderBulk, selectedNodes, triageParts } from "./actions.js";
import { api } from "./api.js";
import { $, h } from "./dom.js";
import { filtersChanged, resetFilters, zoneQuery } from "./filters.js";
import { activeItem, needsYouItem, openNote, recentItem } from "./items.js";
import { notePollInterval } from "./live.js";
import { announce, openFromNotification } from "./notices.js";
import { DECIDING_ZONE, ZONES, ZONE_TITLES } from "./registry.js";
import { guarded } from "./session.js";
import { PAGE_SIZE, state } from "./state.js";
import { raise } from "./triage.js";
import { openDetail } from "./views.js";

const BUILDERS = { active: activeItem, needs_you: needsYouItem, recent: recentItem };

export function zoneSection(zone) {
  const titleId = `zone-${zone.zone}-title`;
  const deciding = zone.audience === "deciders";
  return h(
    "section",
    { class: "zone", "data-zone": zone.zone, "aria-labelledby": titleId },
    h(
      "div",
      { class: "zone-head" },
      h("h2", { id: titleId }, `${zone.title} `, h("span", { class: "total" }), h("span", { class: "visually-hidden" }, " items")),
      h("label", { class: "kind" }, "Kind ", h("select", { "data-kind-filter": zone.zone })),
      deciding
        ? [
            h("button", { type: "button", class: "chip", id: "oldest-first", "aria-pressed": "false" }, "Oldest first"),
            h("button", { type: "button", class: "chip", id: "notify", hidden: true }, "Notify me"),
          ]
        : null,
    ),
    deciding
      ? h(
          "details",
          { class: "snoozed", id: "snoozed" },
          h("summary", {}, "Snoozed ", h("span", { id: "snoozed-count" }, "0")),
          h("ul", { class: "snoozed-items", id: "snoozed-items" }),
          h("p", { class: "snoozed-none", id: "snoozed-empty" }, "Nothing snoozed."),
        )
      : null,
    deciding
      ? h(
          "div",
          { class: "bulk", id: "bulk", hidden: true },
          h("span", { id: "bulk-count" }),
          h("span", { class: "bulk-actions", id: "bulk-actions" }),
          h("button", { type: "button", class: "quiet", id: "bulk-clear" }, "Clear selection"),
        )
      : null,
    h("ul", { class: "items", "aria-labelledby": titleId }),
    h("p", { class: "empty", hidden: true }, zone.empty),
    h("button", { type: "button", class: "more", hidden: true }, "Load more"),
  );
}

/** Re-read a zone's shown pages in one call; 304 (nothing changed) leaves the page alone. */
export async function refreshZone(zone) {
  const view = state.zones[zone];
  if (!view) return;
  if (view.busy) {
    view.again = true;
    return view.busy;
  }
  view.busy = (async () => {
    try {
      do {
        view.again = false;
        const limit = Math.min(100, PAGE_SIZE * view.pages);
        const answer = await api(`/me/dashboard/${zone}?${zoneQuery(zone, { limit })}`, {
          etag: view.etag,
        });
        if (state.zones[zone] !== view) return;
        notePollInterval(answer);
        if (answer.status === 200) {
          view.etag = answer.headers.get("ETag");
          view.items = answer.data.items;
          view.total = answer.data.total_count;
          view.next = answer.data.next_cursor;
          renderZone(zone);
          // My needs_you changed (a snooze made, lapsed or ended among others): the list too.
          if (zone === DECIDING_ZONE) guarded(refreshSnoozed);
        } else if (answer.status === 404 || answer.status === 422) {
          // A bookmarked filter that no longer applies (an engagement left): drop it.
          resetFilters();
          return;
        }
      } while (view.again);
    } finally {
      view.busy = null;
    }
  })();
  return view.busy;
}

async function loadMore(zone) {
  const view = state.zones[zone];
  if (!view || !view.next) return;
  const button = document.querySelector(`[data-zone="${zone}"] .more`);
  button.disabled = true;
  await guarded(async () => {
    const answer = await api(
      `/me/dashboard/${zone}?${zoneQuery(zone, { limit: PAGE_SIZE, cursor: view.next })}`,
    );
    if (answer.status === 200 && state.zones[zone] === view) {
      const seen = new Set(view.items.map((item) => keyOf(zone, item)));
      view.items = view.items.concat(answer.data.items.filter((i) => !seen.has(keyOf(zone, i))));
      view.total = answer.data.total_count;
      view.next = answer.data.next_cursor;
      view.pages += 1;
      view.etag = null; // the next refresh reads all the pages shown
      renderZone(zone, { quiet: true });
    } else if (answer.status === 400) {
      await refreshZone(zone);
    }
  });
  button.disabled = false;
}

export function keyOf(zone, item) {
  return item.artifact_kind ? `${item.artifact_kind}:${item.artifact_id}` : `${item.item_kind}:${item.item_id}`;
}

export const itemOf = new WeakMap();

function build(zone, item) {
  const node = BUILDERS[zone](item, {
    decide: (action) => decide(node, item, action),
    open: (url) => openDetail(url, node),
    triage: zone === DECIDING_ZONE ? triageParts : null,
  });
  itemOf.set(node, item);
  if (zone === DECIDING_ZONE) {
    const box = node.querySelector(".select");
    if (box) box.addEventListener("change", renderBulk);
  }
  return node;
}

/** Keep what the person typed, ticked and focused when an item is redrawn. */
function carryOver(from, to) {
  for (const field of from.querySelectorAll("[data-keep]")) {
    const twin = to.querySelector(`[data-keep="${field.dataset.keep}"]`);
    if (!twin) continue;
    if (field.type === "checkbox") twin.checked = field.checked;
    else twin.value = field.value;
  }
  const note = from.querySelector(".note");
  if (note && !note.hidden) openNote(to, { focus: false });
  const focused = document.activeElement;
  if (focused && from.contains(focused) && focused.dataset.focus) {
    const twin = to.querySelector(`[data-focus="${focused.dataset.focus}"]`);
    if (twin) queueMicrotask(() => twin.focus());
  }
}

function renderZone(zone, { quiet = false } = {}) {
  const view = state.zones[zone];
  const section = document.querySelector(`[data-zone="${zone}"]`);
  const list = section.querySelector(".items");
  const old = new Map();
  // Items settled with a message (someone was quicker) stay where they were until dismissed.
  const settledAfter = new Map();
  let anchor = null;
  const wantedKeys = new Set(view.items.map((item) => keyOf(zone, item)));
  for (const node of list.children) {
    old.set(node.dataset.key, node);
    if (wantedKeys.has(node.dataset.key)) anchor = node.dataset.key;
    else if (node.classList.contains("settled")) {
      if (!settledAfter.has(anchor)) settledAfter.set(anchor, []);
      settledAfter.get(anchor).push(node);
    }
  }
  const wanted = [...(settledAfter.get(null) || [])];
  let arrivals = 0;
  for (const item of view.items) {
    const key = keyOf(zone, item);
    if (zone === DECIDING_ZONE && !state.seen.has(key)) {
      // Not seen before in this page: a desktop notification if the page is hidden.
      if (view.loaded && !quiet) raise(item, openFromNotification);
      state.seen.add(key);
    }
    const signature = JSON.stringify(item);
    let node = old.get(key);
    if (node && node.classList.contains("settled")) {
      // keep the message
    } else if (!node || node.dataset.signature !== signature) {
      const fresh = build(zone, item);
      fresh.dataset.key = key;
      fresh.dataset.signature = signature;
      if (node) carryOver(node, fresh);
      else if (view.loaded && !quiet) {
        arrivals += 1;
        fresh.classList.add("new");
        setTimeout(() => fresh.classList.remove("new"), 4000);
      }
      node = fresh;
    }
    wanted.push(node, ...(settledAfter.get(key) || []));
  }
  const focused = document.activeElement;
  const lostFocus = focused && list.contains(focused) && !wanted.some((n) => n.contains(focused));
  wanted.forEach((node, index) => {
    if (list.children[index] !== node) list.insertBefore(node, list.children[index] || null);
  });
  while (list.children.length > wanted.length) list.lastElementChild.remove();
  if (lostFocus) section.querySelector("h2").focus();

  section.querySelector(".total").textContent = String(view.total);
  section.querySelector(".empty").hidden = view.items.length > 0 || list.children.length > 0;
  section.querySelector(".more").hidden = !view.next;
  if (arrivals > 0) {
    announce(`${arrivals} new in ${ZONE_TITLES[zone]}.`);
  }
  view.loaded = true;
  if (zone === DECIDING_ZONE) renderBulk();
}

export function cardOf(item) {
  const key = keyOf(DECIDING_ZONE, item);
  return [...document.querySelectorAll(`[data-zone="${DECIDING_ZONE}"] .items > li`)].find((node) => node.dataset.key === key);
}

export function wireZones() {
  $("#bulk-clear").addEventListener("click", () => {
    for (const node of selectedNodes()) node.querySelector(".select").checked = false;
    renderBulk();
  });
  for (const zone of ZONES) {
    document.querySelector(`[data-zone="${zone}"] .more`).addEventListener("click", () => loadMore(zone));
    document.querySelector(`[data-zone="${zone}"] h2`).tabIndex = -1;
    document.querySelector(`[data-kind-filter="${zone}"]`).addEventListener("change", (event) => {
      state.filters.kinds[zone] = event.target.value ? [event.target.value] : [];
      filtersChanged();
    });
  }
}
