// The operator dashboard: sign-in, the three zones, filters in the URL, decisions, and live
// updates (the event stream when the service offers it, else polling with If-None-Match).

import { SignedOut, Unavailable, api, detailText, onHealth, seconds } from "./api.js";
import { itemDetail, jobDetail } from "./detail.js";
import { $, h, hidden } from "./dom.js";
import { activeItem, needsYouItem, openNote, recentItem, refreshTimes, when } from "./items.js";
import { wireKeys } from "./keys.js";
import {
  chooseSnoozeTime,
  claimControls,
  notify,
  overdueMark,
  raise,
  snoozeMenu,
  snoozePath,
  snoozedRows,
  wireSnoozeTime,
} from "./triage.js";

const PAGE_SIZE = 10;
// The zones, their kinds and wording come from the service (GET /dashboard/registry.json):
// filled in by loadRegistry() before anything is drawn.
let ZONES = [];
const ZONE_TITLES = {};
const ZONE_KINDS = {};
const KIND_LABELS = {};
const DECISION_WORDS = {}; // kind -> decision -> how it reads once taken ("confirmed")
let DECIDING_ZONE = null; // the zone whose items the caller decides (bulk selection lives there)
let CLOCK_ZONES = []; // zones whose items change with the clock alone (stalled jobs)
const BUILDERS = { active: activeItem, needs_you: needsYouItem, recent: recentItem };

const state = {
  signedIn: false,
  pollSeconds: 10,
  pollTimer: null,
  unhealthy: false,
  clockTimer: null,
  stream: null,
  streamOpen: false,
  streamRetry: null,
  ticks: 0,
  counts: null,
  countsEtag: null,
  filters: { engagements: [], kinds: {}, q: "", oldest: false, claimed: "" }, // read from the URL once the zones are known
  me: null, // my person id (GET /me): which claims are mine
  seen: new Set(), // needs_you items shown since the page opened (a notification is for a new one)
  searchTimer: null,
  zones: {},
  view: "dashboard", // or "done": my decisions
  done: { items: [], next: null },
  notice: null, // the timer that ends the notice or its Undo
  opener: null, // what had focus when the detail opened
};

function freshZone() {
  return { items: [], total: 0, next: null, pages: 1, etag: null, loaded: false, busy: null, again: false };
}

// ---------------------------------------------------------------- filters in the URL

async function loadRegistry() {
  const answer = await api("/dashboard/registry.json");
  ZONES = answer.data.zones.map((zone) => zone.zone);
  for (const zone of answer.data.zones) {
    ZONE_TITLES[zone.zone] = zone.title;
    ZONE_KINDS[zone.zone] = zone.kinds.map((kind) => kind.kind);
    for (const kind of zone.kinds) {
      KIND_LABELS[kind.kind] = kind.name;
      DECISION_WORDS[kind.kind] = Object.fromEntries(kind.decisions.map((d) => [d.decision, d.done]));
    }
    if (zone.audience === "deciders") DECIDING_ZONE = zone.zone;
    if (zone.clock) CLOCK_ZONES.push(zone.zone);
  }
  $("#zones").replaceChildren(...answer.data.zones.map(zoneSection));
  if (DECIDING_ZONE) $(".search").after(claimedFilter());
  $("#legend").textContent = `Numbers on each engagement: ${ZONES.map((zone) => ZONE_TITLES[zone].toLowerCase()).join(" · ")}.`;
}

function zoneSection(zone) {
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

/** All / Mine / Unclaimed for the deciding zone (`claimed=mine|none`), beside the search box. */
function claimedFilter() {
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

function readFilters() {
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

function writeFilters() {
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

function zoneQuery(zone, extra) {
  const params = new URLSearchParams(extra);
  for (const id of state.filters.engagements) params.append("engagement_id", id);
  for (const kind of state.filters.kinds[zone]) params.append("kind", kind);
  if (state.filters.q) params.set("q", state.filters.q);
  if (state.filters.oldest && zone === DECIDING_ZONE) params.set("order", "oldest");
  if (state.filters.claimed && zone === DECIDING_ZONE) params.set("claimed", state.filters.claimed);
  return params.toString();
}

// ---------------------------------------------------------------- banner and announcements

function showBanner(error) {
  const banner = $("#banner");
  if (error.reason === "service") {
    const wait = error.retryAfter ? ` Trying again in about ${error.retryAfter} s.` : "";
    banner.textContent = `The service is unavailable right now; the dashboard will catch up when it is back.${wait}`;
  } else {
    banner.textContent = "The connection to the service was lost; retrying.";
  }
  banner.hidden = false;
  state.unhealthy = true;
}

onHealth(() => {
  $("#banner").hidden = true;
  state.unhealthy = false;
}, showBanner);

function announce(text) {
  const announcer = $("#announcer");
  announcer.textContent = "";
  // A fresh text node, so screen readers announce a repeated message too.
  setTimeout(() => {
    announcer.textContent = text;
  }, 50);
}

// ---------------------------------------------------------------- sign in and out

function showSignIn() {
  stopLive();
  state.signedIn = false;
  for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
  state.zones = {};
  state.counts = null;
  state.countsEtag = null;
  $("#dashboard").hidden = true;
  $("#notice").hidden = true;
  $("#who").hidden = true;
  $("#sign-in").hidden = false;
  for (const list of document.querySelectorAll(".items")) list.replaceChildren();
  if (location.pathname !== "/login") history.replaceState(null, "", `/login${location.search}`);
  document.title = "Sign in · Loomworks";
  $("#email").focus();
}

function retryText(wait) {
  if (wait === null) return "a while";
  if (wait < 90) return `${wait} s`;
  return `${Math.ceil(wait / 60)} min`;
}

async function signIn(event) {
  event.preventDefault();
  const error = $("#sign-in-error");
  const button = $("#sign-in-form button");
  error.textContent = "";
  button.disabled = true;
  try {
    const answer = await api("/auth/login", {
      method: "POST",
      body: { email: $("#email").value.trim(), password: $("#password").value },
    });
    if (answer.status === 204) {
      $("#password").value = "";
      await start();
    } else if (answer.status === 401) {
      error.textContent = detailText(answer.data, "Email or password is wrong.");
    } else if (answer.status === 429) {
      const wait = seconds(answer.headers.get("Retry-After"));
      error.textContent = `Too many attempts. Try again in ${retryText(wait)}.`;
    } else if (answer.status === 422) {
      error.textContent = "Enter your email address and your password.";
    } else {
      error.textContent = detailText(answer.data, `Sign-in failed (${answer.status}).`);
    }
  } catch (failure) {
    if (failure instanceof Unavailable) error.textContent = "The service is unavailable; try again shortly.";
    else throw failure;
  } finally {
    button.disabled = false;
  }
}

async function signOut() {
  try {
    await api("/auth/logout", { method: "POST" });
  } catch (failure) {
    if (!(failure instanceof SignedOut)) throw failure;
  }
  showSignIn();
}

// ---------------------------------------------------------------- loading and refreshing

/** Run `work`, turning a lost session into the sign-in page and an outage into the banner. */
async function guarded(work) {
  try {
    return await work();
  } catch (failure) {
    if (failure instanceof SignedOut) {
      if (state.signedIn) showSignIn();
    } else if (!(failure instanceof Unavailable)) {
      throw failure;
    }
    return undefined;
  }
}

function notePollInterval(answer) {
  const value = Number(answer.headers.get("X-Poll-Interval"));
  if (Number.isFinite(value) && value >= 1) state.pollSeconds = value;
}

async function refreshCounts() {
  const answer = await api("/me/dashboard/counts", { etag: state.countsEtag });
  notePollInterval(answer);
  if (answer.status !== 200) return;
  state.countsEtag = answer.headers.get("ETag");
  state.counts = answer.data;
  renderFilters();
}

/** Re-read a zone's shown pages in one call; 304 (nothing changed) leaves the page alone. */
async function refreshZone(zone) {
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

function refreshAll() {
  return guarded(() => Promise.all([refreshCounts(), ...ZONES.map(refreshZone)]));
}

function resetZones() {
  for (const zone of ZONES) state.zones[zone] = freshZone();
}

function resetFilters() {
  state.filters = { engagements: [], kinds: Object.fromEntries(ZONES.map((zone) => [zone, []])), q: "", oldest: false, claimed: "" };
  writeFilters();
  resetZones();
  renderFilters();
  refreshAll();
}

// ---------------------------------------------------------------- live: events, else polling

function stopLive() {
  clearTimeout(state.pollTimer);
  clearInterval(state.clockTimer);
  clearTimeout(state.streamRetry);
  if (state.stream) state.stream.close();
  state.stream = null;
  state.streamOpen = false;
}

function openStream() {
  if (!("EventSource" in window) || !state.signedIn) return;
  const stream = new EventSource("/me/dashboard/events");
  state.stream = stream;
  stream.addEventListener("open", () => {
    const missed = !state.streamOpen;
    state.streamOpen = true;
    if (missed) refreshAll(); // whatever changed while the stream was away
  });
  stream.addEventListener("zone_changed", (event) => {
    let change = null;
    try {
      change = JSON.parse(event.data);
    } catch {
      change = null;
    }
    const zones = change && ZONES.includes(change.zone) ? [change.zone] : ZONES;
    guarded(() => Promise.all([refreshCounts(), ...zones.map(refreshZone)]));
  });
  stream.addEventListener("error", () => {
    state.streamOpen = false;
    if (stream.readyState === EventSource.CLOSED) {
      // Refused (no stream on this service, or signed out): poll, and ask again later.
      if (state.stream === stream) state.stream = null;
      clearTimeout(state.streamRetry);
      state.streamRetry = setTimeout(openStream, 60_000);
    }
  });
}

function schedulePoll() {
  clearTimeout(state.pollTimer);
  state.pollTimer = setTimeout(async () => {
    state.ticks += 1;
    // Poll while there is no stream, and while the service is away (an open stream may say
    // nothing about its recovery): the first good answer takes the banner down.
    if (!state.streamOpen || state.unhealthy) {
      await refreshAll();
    } else if (state.ticks * state.pollSeconds >= 60) {
      // Even with the stream, a stalled job's "no update for N min" moves with the clock.
      state.ticks = 0;
      await guarded(() => Promise.all(CLOCK_ZONES.map(refreshZone)));
    }
    if (state.signedIn) schedulePoll();
  }, state.pollSeconds * 1000);
}

// ---------------------------------------------------------------- rendering

function keyOf(zone, item) {
  return item.artifact_kind ? `${item.artifact_kind}:${item.artifact_id}` : `${item.item_kind}:${item.item_id}`;
}

const itemOf = new WeakMap();

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

function renderFilters() {
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

function filtersChanged() {
  writeFilters();
  resetZones();
  renderFilters();
  refreshAll();
}

// ---------------------------------------------------------------- decisions

function decidedItem(node, zone = DECIDING_ZONE) {
  const view = state.zones[zone];
  const item = itemOf.get(node);
  if (view && item) {
    const key = keyOf(zone, item);
    view.items = view.items.filter((other) => keyOf(zone, other) !== key);
    view.total = Math.max(0, view.total - 1);
  }
  const next = node.nextElementSibling || node.previousElementSibling;
  const hadFocus = node.contains(document.activeElement);
  node.remove();
  if (hadFocus) {
    const target = next && next.querySelector("button, input, a");
    (target || document.querySelector(`[data-zone="${DECIDING_ZONE}"] h2`)).focus();
  }
  const section = document.querySelector(`[data-zone="${DECIDING_ZONE}"]`);
  if (view) section.querySelector(".total").textContent = String(view.total);
  section.querySelector(".empty").hidden = section.querySelector(".items").children.length > 0;
  renderBulk();
}

/** Someone else was quicker (or the item is gone): say so on the item and keep it in place. */
function settle(node, message) {
  node.classList.add("settled");
  const hadFocus = node.contains(document.activeElement);
  for (const part of node.querySelectorAll(".actions, .note, .select, .triage")) part.remove();
  const outcome = node.querySelector(".outcome");
  outcome.classList.add("conflict");
  outcome.textContent = message;
  const dismiss = h("button", { type: "button", class: "quiet", onclick: () => decidedItem(node, null) }, "Dismiss");
  node.append(dismiss);
  if (hadFocus) dismiss.focus();
  renderBulk();
}

/** POST one of an item's actions from `container` (its card or its detail), buttons held. */
async function postDecision(container, action) {
  const buttons = container.querySelectorAll(".actions button");
  for (const button of buttons) button.disabled = true;
  const note = (container.querySelector('[data-keep="note"]') || { value: "" }).value.trim();
  const answer = await guarded(() =>
    api(action.url, { method: action.method || "POST", body: note ? { note } : {} }),
  );
  if (!answer || answer.status === 422) {
    for (const button of buttons) button.disabled = false;
  }
  if (answer && answer.status === 422) {
    container.querySelector(".outcome").textContent = detailText(answer.data, "Not accepted.");
  }
  return answer;
}

async function decide(node, item, action) {
  const answer = await postDecision(node, action);
  if (!answer || answer.status === 422) return;
  if (answer.status === 200) {
    decidedItem(node);
    decided(answer.data);
  } else {
    settle(node, detailText(answer.data, `Not decided (${answer.status}).`));
  }
  refreshAll();
}

// ---------------------------------------------------------------- triage: claims, snoozes

function triageParts(item) {
  return {
    mark: overdueMark(item),
    controls: [claimControls(item, { me: state.me, claim, release }), snoozeMenu(item, { snooze, choose: chooseSnoozeTime })],
  };
}

/**
 * Say what the service answered, then read the zone again. A refusal goes to `report` when it
 * takes it (the chosen-time form shows it there), else on the item's card.
 */
async function triaged(item, answer, okText, report = null) {
  if (!answer) return;
  const ok = answer.status >= 200 && answer.status < 300;
  const text = ok ? okText : detailText(answer.data, `Not done (${answer.status}).`);
  const reported = !ok && report !== null && report(text);
  if (!reported) announce(text);
  await Promise.all([refreshZone(DECIDING_ZONE), refreshCounts()]);
  const node = cardOf(item);
  if (node && !ok && !reported) node.querySelector(".outcome").textContent = text;
}

async function claim(item) {
  const answer = await guarded(() => api(`${item.detail_url}/claim`, { method: "POST" }));
  await guarded(() => triaged(item, answer, `You are on ${item.item_label}.`));
}

async function release(item) {
  const answer = await guarded(() => api(`${item.detail_url}/claim`, { method: "DELETE" }));
  await guarded(() => triaged(item, answer, `Released ${item.item_label}.`));
}

/** PUT my snooze of `item`; true when the service took it. */
async function snooze(item, until, report = null) {
  const answer = await guarded(() => api(snoozePath(item), { method: "PUT", body: { until } }));
  await guarded(() => triaged(item, answer, `Snoozed ${item.item_label}.`, report));
  return Boolean(answer && answer.status >= 200 && answer.status < 300);
}

async function bringBack(item) {
  const answer = await guarded(() => api(snoozePath(item), { method: "DELETE" }));
  await guarded(() => triaged(item, answer, `${item.item_label} is back.`));
}

async function refreshSnoozed() {
  if (!$("#snoozed")) return;
  const answer = await api("/me/snoozes");
  if (answer.status !== 200) return;
  const items = answer.data.items;
  $("#snoozed-count").textContent = String(items.length);
  $("#snoozed-items").replaceChildren(...snoozedRows(items, bringBack));
  $("#snoozed-empty").hidden = items.length > 0;
}

function cardOf(item) {
  const key = keyOf(DECIDING_ZONE, item);
  return [...document.querySelectorAll(`[data-zone="${DECIDING_ZONE}"] .items > li`)].find((node) => node.dataset.key === key);
}

/**
 * A notification was clicked: the dashboard on show, that item's card in view and focused,
 * and its detail open over it (as a click on its title opens it; closing it returns to the
 * card). A form or list left open is closed first: it would hold focus away from the card.
 */
async function openFromNotification(item) {
  await Promise.all(
    [...document.querySelectorAll("dialog[open]")].map(
      (dialog) =>
        new Promise((closed) => {
          dialog.addEventListener("close", closed, { once: true });
          dialog.close();
        }),
    ),
  );
  if (state.view !== "dashboard") showView("dashboard");
  const node = cardOf(item);
  if (node) {
    node.scrollIntoView({ block: "center" });
    node.focus();
  }
  if (item.detail_url) await openDetail(item.detail_url, node || null);
}

// ---------------------------------------------------------------- the notice, with undo

function decidedWords(kind, decision) {
  const done = (DECISION_WORDS[kind] || {})[decision] || "decided";
  return done[0].toUpperCase() + done.slice(1);
}

/** A decision was taken: say which, and offer Undo for as long as the service allows it. */
function decided(decision) {
  const text = `${decidedWords(decision.item_kind, decision.decision)}: ${decision.item_label}.`;
  announce(text);
  if (!decision.undo_url || !decision.undo_until) {
    showNotice(text, null);
    return;
  }
  // The window as the service counts it, from this moment (the two clocks may differ).
  const left = Date.parse(decision.undo_until) - Date.parse(decision.decided_at);
  showNotice(text, { url: decision.undo_url, label: decision.item_label, ms: left });
}

function showNotice(text, undo) {
  const notice = $("#notice");
  clearTimeout(state.notice);
  $("#notice-text").textContent = text;
  const button = $("#notice-undo");
  button.hidden = !undo;
  button.disabled = false;
  button.onclick = undo ? () => undoDecision(undo.url, undo.label) : null;
  notice.hidden = false;
  state.notice = setTimeout(() => {
    button.hidden = true;
    if (!undo) notice.hidden = true;
  }, undo ? Math.max(0, undo.ms) : 8000);
}

async function undoDecision(url, label) {
  const button = $("#notice-undo");
  button.disabled = true;
  const answer = await guarded(() => api(url, { method: "POST" }));
  if (!answer) {
    button.disabled = false;
    return;
  }
  const text =
    answer.status === 200
      ? `Undone: ${label} waits for a decision again.`
      : detailText(answer.data, `Not undone (${answer.status}).`);
  showNotice(text, null);
  announce(text);
  refreshAll();
  if (state.view === "done") loadDone();
}

// ---------------------------------------------------------------- an item's detail in the page

async function openDetail(url, node) {
  const dialog = $("#detail");
  const answer = await guarded(() => api(url));
  if (!answer) return;
  const body = $("#detail-body");
  if (answer.status !== 200) {
    $("#detail-title").textContent = "Not available";
    body.replaceChildren(h("p", {}, detailText(answer.data, `Not available (${answer.status}).`)));
  } else if (answer.data.job_id) {
    $("#detail-title").textContent = answer.data.job_label;
    body.replaceChildren(...jobDetail(answer.data).filter(Boolean));
  } else {
    $("#detail-title").textContent = answer.data.item_label;
    const item = answer.data;
    body.replaceChildren(...itemDetail(item, (action) => decideInDetail(item, action, node), decidedWords).filter(Boolean));
  }
  state.opener = document.activeElement;
  if (!dialog.open) dialog.showModal();
  $("#detail-close").focus();
}

async function decideInDetail(item, action, node) {
  const body = $("#detail-body");
  const answer = await postDecision(body, action);
  if (!answer || answer.status === 422) return;
  if (answer.status === 200) {
    closeDetail();
    if (node && node.isConnected) decidedItem(node);
    decided(answer.data);
  } else {
    body.querySelector(".outcome").textContent = detailText(answer.data, `Not decided (${answer.status}).`);
    for (const part of body.querySelectorAll(".actions")) part.remove();
  }
  refreshAll();
}

function closeDetail() {
  const dialog = $("#detail");
  if (dialog.open) dialog.close();
}

function restoreFocus() {
  const opener = state.opener;
  state.opener = null;
  if (opener && opener.isConnected && opener !== document.body) opener.focus();
  else document.querySelector(`[data-zone="${DECIDING_ZONE}"] h2`).focus();
}

// ---------------------------------------------------------------- Done: my decisions

function doneItem(decision) {
  return h(
    "li",
    { class: "item", tabIndex: -1 },
    h("span", { class: "item-title" }, decision.item_label),
    h(
      "div",
      { class: "item-foot" },
      h(
        "span",
        { class: "item-meta" },
        `${decidedWords(decision.item_kind, decision.decision)} · ${decision.engagement_name} · `,
        when(decision.decided_at),
        decision.undone_at ? h("strong", { class: "undone" }, " · undone") : null,
      ),
      decision.undo_url
        ? h(
            "button",
            { type: "button", class: "secondary", onclick: () => undoDecision(decision.undo_url, decision.item_label) },
            "Undo",
            h("span", { class: "visually-hidden" }, ` ${decision.item_label}`),
          )
        : null,
    ),
    decision.note ? h("p", { class: "item-detail" }, `Note: ${decision.note}`) : null,
  );
}

async function loadDone(more = false) {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (more && state.done.next) query.set("cursor", state.done.next);
  const answer = await guarded(() => api(`/me/decisions?${query}`));
  if (!answer || answer.status !== 200) return;
  state.done.items = more ? state.done.items.concat(answer.data.items) : answer.data.items;
  state.done.next = answer.data.next_cursor;
  $("#done-items").replaceChildren(...state.done.items.map(doneItem));
  $("#done-total").textContent = String(answer.data.total_count);
  $("#done .empty").hidden = state.done.items.length > 0;
  $("#done .more").hidden = !state.done.next;
}

function showView(view, { push = true } = {}) {
  state.view = view;
  $("#zones").hidden = view !== "dashboard";
  $(".filters").hidden = view !== "dashboard";
  $("#done").hidden = view !== "done";
  $("#view-dashboard").setAttribute("aria-pressed", String(view === "dashboard"));
  $("#view-done").setAttribute("aria-pressed", String(view === "done"));
  if (push) writeFilters();
  if (view === "done") loadDone();
}

function selectedNodes() {
  return [...document.querySelectorAll(`[data-zone="${DECIDING_ZONE}"] .items > li`)].filter((node) => {
    const box = node.querySelector(".select");
    return box && box.checked;
  });
}

function renderBulk() {
  const nodes = selectedNodes();
  const bar = $("#bulk");
  bar.hidden = nodes.length === 0;
  if (nodes.length === 0) return;
  $("#bulk-count").textContent = `${nodes.length} selected:`;
  const byDecision = new Map();
  for (const node of nodes) {
    for (const action of itemOf.get(node).actions) {
      if (!byDecision.has(action.decision)) byDecision.set(action.decision, { label: action.label, nodes: [] });
      byDecision.get(action.decision).nodes.push(node);
    }
  }
  const buttons = [...byDecision.entries()].map(([decision, group]) =>
    h(
      "button",
      { type: "button", class: "secondary", onclick: () => decideMany(decision, group.nodes) },
      `${group.label} ${group.nodes.length}`,
    ),
  );
  $("#bulk-actions").replaceChildren(...buttons);
}

async function decideMany(decision, nodes) {
  const entries = nodes.map((node) => {
    const item = itemOf.get(node);
    const note = (node.querySelector('[data-keep="note"]') || { value: "" }).value.trim();
    const entry = { engagement_id: item.engagement_id, item_kind: item.item_kind, item_id: item.item_id, decision };
    if (note) entry.note = note;
    return entry;
  });
  const answer = await guarded(() =>
    api("/me/dashboard/needs_you/decisions", { method: "POST", body: { decisions: entries } }),
  );
  if (!answer || answer.status !== 200) return;
  let done = 0;
  answer.data.results.forEach((result, index) => {
    const node = nodes[index];
    if (result.status === 200) {
      done += 1;
      decidedItem(node);
    } else {
      settle(node, detailText(result, `Not decided (${result.status}).`));
    }
  });
  announce(`${done} of ${nodes.length} decided.`);
  if (done > 0) showNotice(`${done} of ${nodes.length} decided.`, null);
  refreshAll();
}

// ---------------------------------------------------------------- start

async function start() {
  let answer;
  try {
    answer = await api("/me");
  } catch (failure) {
    if (failure instanceof SignedOut) {
      showSignIn();
      return;
    }
    if (failure instanceof Unavailable) {
      setTimeout(start, 3000);
      return;
    }
    throw failure;
  }
  state.signedIn = true;
  $("#sign-in").hidden = true;
  $("#who").hidden = false;
  $("#who-name").textContent = answer.data.display_name;
  state.me = answer.data.id;
  $("#dashboard").hidden = false;
  document.title = "Dashboard · Loomworks";
  if (location.pathname !== "/") history.replaceState(null, "", `/${location.search}`);
  state.filters = readFilters();
  resetZones();
  showView(state.view, { push: false });
  await refreshAll();
  schedulePoll();
  state.clockTimer = setInterval(() => refreshTimes(document), 30_000);
  openStream();
}

function wire() {
  $("#sign-in-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOut);
  window.addEventListener("popstate", () => {
    if (!state.signedIn) return;
    state.filters = readFilters();
    resetZones();
    renderFilters();
    showView(state.view, { push: false });
    refreshAll();
  });
  $("#detail-close").addEventListener("click", closeDetail);
  $("#detail").addEventListener("close", restoreFocus);
  $("#view-dashboard").addEventListener("click", () => showView("dashboard"));
  $("#view-done").addEventListener("click", () => showView("done"));
  $("#done .more").addEventListener("click", () => loadDone(true));
  $("#notice-close").addEventListener("click", () => {
    $("#notice").hidden = true;
  });
}

function wireSearch() {
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
  const bell = $("#notify");
  if (bell && notify.supported()) {
    bell.hidden = false;
    showNotify();
    bell.addEventListener("click", async () => {
      await Notification.requestPermission();
      showNotify();
    });
  }
}

function showNotify() {
  const bell = $("#notify");
  const permission = Notification.permission;
  bell.textContent = permission === "granted" ? "Notifications on" : permission === "denied" ? "Notifications blocked" : "Notify me";
  bell.disabled = permission !== "default";
}

function wireZones() {
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

async function boot() {
  wire();
  for (;;) {
    try {
      await loadRegistry();
      break;
    } catch (failure) {
      if (!(failure instanceof Unavailable)) throw failure;
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
  }
  wireZones();
  wireSearch();
  wireKeys({ open: (node) => node.querySelector("[data-open]"), select: renderBulk });
  if (DECIDING_ZONE) {
    // Back to the item's Snooze button on its redrawn card, else (snoozed) to the zone's heading.
    const away = (item) => {
      const node = cardOf(item);
      const button = node && node.querySelector('[data-focus="snooze"]');
      (button || document.querySelector(`[data-zone="${DECIDING_ZONE}"] h2`)).focus();
    };
    wireSnoozeTime({ send: snooze, away });
  }
  start();
}

boot();
