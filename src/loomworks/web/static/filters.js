// The filters: kept in the URL (so a view can be bookmarked), sent with each zone's query, and
// drawn with the counts beside them (each engagement's numbers, each kind's in its select).

import { api } from "./api.js";
import { $, h, hidden } from "./dom.js";
import { notePollInterval, refreshAll } from "./live.js";
import { DECIDING_ZONE, KIND_LABELS, ZONES, ZONE_KINDS, ZONE_TITLES } from "./registry.js";
import { resetZones, state } from "./state.js";

/** All / Mine / Unclaimed for the deciding zone (`claimed=mine|none`), beside the search box. */
export function claimedFilter() {
  return h(
    "div",
    { class: "search claimed-filter" },
    h("label", { for: "claimed-filter" }, "Claimed", hidden(` (${ZONE_TITLES[DECIDING_ZONE]})`)),
    h(
      "select",
      { id: "claimed-filter" },
      h("option", { value: "" }, "All"),
      h("option", { value: "mine" }, "Mine"),
      h("option", { value: "none" }, "Unclaimed"),
    ),
  );
}

export function readFilters() {
  const params = new URLSearchParams(location.search);
  const kinds = {};
  for (const zone of ZONES) {
    kinds[zone] = params.getAll(`${zone}_kind`).filter((kind) => ZONE_KINDS[zone].includes(kind));
  }
  state.view = params.get("view") === "done" ? "done" : "dashboard";
  const q = (params.get("q") || "").slice(0, 200);
  const claimed = ["mine", "none"].includes(params.get("claimed")) ? params.get("claimed") : "";
  return { engagements: params.getAll("engagement_id"), kinds, q, oldest: params.get("order") === "oldest", claimed };
}

export function writeFilters() {
  const params = new URLSearchParams();
  for (const id of state.filters.engagements) params.append("engagement_id", id);
  for (const zone of ZONES) {
    for (const kind of state.filters.kinds[zone]) params.append(`${zone}_kind`, kind);
  }
  if (state.filters.q) params.set("q", state.filters.q);
  if (state.filters.oldest) params.set("order", "oldest");
  if (state.filters.claimed) params.set("claimed", state.filters.claimed);
  if (state.view === "done") params.set("view", "done");
  const query = params.toString();
  history.pushState(null, "", `/${query ? `?${query}` : ""}`);
}

export function zoneQuery(zone, extra) {
  const params = new URLSearchParams(extra);
  for (const id of state.filters.engagements) params.append("engagement_id", id);
  for (const kind of state.filters.kinds[zone]) params.append("kind", kind);
  if (state.filters.q) params.set("q", state.filters.q);
  if (state.filters.oldest && zone === DECIDING_ZONE) params.set("order", "oldest");
  if (state.filters.claimed && zone === DECIDING_ZONE) params.set("claimed", state.filters.claimed);
  return params.toString();
}

export async function refreshCounts() {
  const answer = await api("/me/dashboard/counts", { etag: state.countsEtag });
  notePollInterval(answer);
  if (answer.status !== 200) return;
  state.countsEtag = answer.headers.get("ETag");
  state.counts = answer.data;
  renderFilters();
}

export function renderFilters() {
  const counts = state.counts;
  if (!counts) return;
  const chips = $("#chips");
  const selected = new Set(state.filters.engagements);
  const chip = (label, pressed, onclick, extra = []) =>
    h("button", { type: "button", class: "chip", "aria-pressed": String(pressed), onclick }, label, ...extra.flatMap((part) => (part ? [" ", part] : [])));
  const all = chip("All engagements", selected.size === 0, () => {
    state.filters.engagements = [];
    filtersChanged();
  });
  const rest = counts.engagements.map((engagement) => {
    const z = engagement.zones;
    const n = (zone) => (z[zone] ? z[zone].total : 0);
    const spoken = `: ${ZONES.map((zone) => `${n(zone)} ${ZONE_TITLES[zone].toLowerCase()}`).join(", ")}`;
    return chip(
      engagement.engagement_name,
      selected.has(engagement.engagement_id),
      () => {
        const ids = new Set(state.filters.engagements);
        if (ids.has(engagement.engagement_id)) ids.delete(engagement.engagement_id);
        else ids.add(engagement.engagement_id);
        state.filters.engagements = [...ids];
        filtersChanged();
      },
      [
        engagement.designation === "viewer" ? h("span", { class: "role" }, "(view only)") : null,
        h(
          "span",
          { class: "counts", title: spoken.slice(2) },
          h("span", { "aria-hidden": "true" }, ZONES.map(n).join(" · ")),
          h("span", { class: "visually-hidden" }, spoken),
        ),
      ],
    );
  });
  const focusedIndex = [...chips.children].indexOf(document.activeElement);
  chips.replaceChildren(all, ...rest);
  if (focusedIndex >= 0 && chips.children[focusedIndex]) chips.children[focusedIndex].focus();

  const search = $("#search");
  if (document.activeElement !== search) search.value = state.filters.q;
  const oldest = $("#oldest-first");
  if (oldest) oldest.setAttribute("aria-pressed", String(state.filters.oldest));
  const claimed = $("#claimed-filter");
  if (claimed) claimed.value = state.filters.claimed;
  for (const zone of ZONES) {
    const select = document.querySelector(`[data-kind-filter="${zone}"]`);
    const known = counts.zones[zone] ? counts.zones[zone].kinds : {};
    const kinds = new Set([...Object.keys(known), ...state.filters.kinds[zone]]);
    const current = state.filters.kinds[zone][0] || "";
    const options = [h("option", { value: "" }, "All kinds")];
    for (const kind of ZONE_KINDS[zone].filter((k) => kinds.has(k))) {
      options.push(h("option", { value: kind }, `${KIND_LABELS[kind] || kind} (${known[kind] || 0})`));
    }
    const signature = options.map((o) => `${o.value}=${o.textContent}`).join("|");
    if (select.dataset.signature !== signature) {
      select.replaceChildren(...options);
      select.dataset.signature = signature;
    }
    select.value = current;
  }
}

export function filtersChanged() {
  writeFilters();
  resetZones();
  renderFilters();
  refreshAll();
}

export function resetFilters() {
  state.filters = { engagements: [], kinds: Object.fromEntries(ZONES.map((zone) => [zone, []])), q: "", oldest: false, claimed: "" };
  writeFilters();
  resetZones();
  renderFilters();
  refreshAll();
}

export function wireFilters() {
  // Typing settles for a moment before the zones are asked again (one request per pause).
  $("#search").addEventListener("input", (event) => {
    clearTimeout(state.searchTimer);
    state.searchTimer = setTimeout(() => {
      state.filters.q = event.target.value.slice(0, 200);
      filtersChanged();
    }, 300);
  });
  const oldest = $("#oldest-first");
  if (oldest) {
    oldest.addEventListener("click", () => {
      state.filters.oldest = !state.filters.oldest;
      filtersChanged();
    });
  }
  const claimed = $("#claimed-filter");
  if (claimed) {
    claimed.addEventListener("change", (event) => {
      state.filters.claimed = event.target.value;
      filtersChanged();
    });
  }
}
