// What a person does to items and how the page answers: a decision (on a card, or on a
// selection in bulk), claims and snoozes; someone quicker is said on the item's card.

import { api, detailText } from "./api.js";
import { $, h } from "./dom.js";
import { refreshCounts } from "./filters.js";
import { refreshAll } from "./live.js";
import { announce, decided, showNotice } from "./notices.js";
import { DECIDING_ZONE } from "./registry.js";
import { guarded } from "./session.js";
import { state } from "./state.js";
import { chooseSnoozeTime, claimControls, overdueMark, snoozeMenu, snoozePath, snoozedRows } from "./triage.js";
import { cardOf, itemOf, keyOf, refreshZone } from "./zones.js";

// ---------------------------------------------------------------- decisions

export function decidedItem(node, zone = DECIDING_ZONE) {
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
export async function postDecision(container, action) {
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

export async function decide(node, item, action) {
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

// ---------------------------------------------------------------- a selection, decided in bulk

export function selectedNodes() {
  return [...document.querySelectorAll(`[data-zone="${DECIDING_ZONE}"] .items > li`)].filter((node) => {
    const box = node.querySelector(".select");
    return box && box.checked;
  });
}

export function renderBulk() {
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

// ---------------------------------------------------------------- triage: claims, snoozes

export function triageParts(item) {
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
export async function snooze(item, until, report = null) {
  const answer = await guarded(() => api(snoozePath(item), { method: "PUT", body: { until } }));
  await guarded(() => triaged(item, answer, `Snoozed ${item.item_label}.`, report));
  return Boolean(answer && answer.status >= 200 && answer.status < 300);
}

async function bringBack(item) {
  const answer = await guarded(() => api(snoozePath(item), { method: "DELETE" }));
  await guarded(() => triaged(item, answer, `${item.item_label} is back.`));
}

export async function refreshSnoozed() {
  if (!$("#snoozed")) return;
  const answer = await api("/me/snoozes");
  if (answer.status !== 200) return;
  const items = answer.data.items;
  $("#snoozed-count").textContent = String(items.length);
  $("#snoozed-items").replaceChildren(...snoozedRows(items, bringBack));
  $("#snoozed-empty").hidden = items.length > 0;
}
