// The page's views besides the zones: an item's detail in its dialog, and Done (my decisions).

import { decidedItem, postDecision } from "./actions.js";
import { api, detailText } from "./api.js";
import { itemDetail, jobDetail } from "./detail.js";
import { $, h } from "./dom.js";
import { writeFilters } from "./filters.js";
import { when } from "./items.js";
import { refreshAll } from "./live.js";
import { decided, undoDecision } from "./notices.js";
import { DECIDING_ZONE, decidedWords } from "./registry.js";
import { guarded } from "./session.js";
import { PAGE_SIZE, state } from "./state.js";

// ---------------------------------------------------------------- an item's detail in the page

export async function openDetail(url, node) {
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

export function closeDetail() {
  const dialog = $("#detail");
  if (dialog.open) dialog.close();
}

export function restoreFocus() {
  const opener = state.opener;
  state.opener = null;
  if (opener && opener.isConnected && opener !== document.body) opener.focus();
  else document.querySelector(`[data-zone="${DECIDING_ZONE}"] h2`).focus();
}

/** Focus the skip link's target without following its fragment: a new URL would be a history
 * entry, and its popstate would redraw the view from scratch. */
export function skipTo(event) {
  event.preventDefault();
  $(event.currentTarget.getAttribute("href")).focus();
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

export async function loadDone(more = false) {
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

// Where the skip link leads in each view: what the view shows, never a hidden part of the page.
const SKIP_TO = {
  dashboard: ["#zones", "Skip to the zones"],
  done: ["#done-title", "Skip to my decisions"],
};

export function showView(view, { push = true } = {}) {
  state.view = view;
  const [target, words] = SKIP_TO[view];
  $("#skip-link").setAttribute("href", target);
  $("#skip-link").textContent = words;
  $("#zones").hidden = view !== "dashboard";
  $(".filters").hidden = view !== "dashboard";
  $("#done").hidden = view !== "done";
  $("#view-dashboard").setAttribute("aria-pressed", String(view === "dashboard"));
  $("#view-done").setAttribute("aria-pressed", String(view === "done"));
  if (push) writeFilters();
  if (view === "done") loadDone();
}
