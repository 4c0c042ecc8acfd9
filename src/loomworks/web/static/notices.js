// What the page tells the person: the banner while the service is away, announcements for
// screen readers, the notice after a decision (with its Undo), and desktop notifications.

import { api, detailText, onHealth } from "./api.js";
import { $ } from "./dom.js";
import { refreshAll } from "./live.js";
import { decidedWords } from "./registry.js";
import { guarded } from "./session.js";
import { state } from "./state.js";
import { notify } from "./triage.js";
import { loadDone, openDetail, showView } from "./views.js";
import { cardOf } from "./zones.js";

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

/** The banner follows every answer: up while the service is away, down once anything answers. */
export function wireBanner() {
  onHealth(() => {
    $("#banner").hidden = true;
    state.unhealthy = false;
  }, showBanner);
}

export function announce(text) {
  const announcer = $("#announcer");
  announcer.textContent = "";
  // A fresh text node, so screen readers announce a repeated message too.
  setTimeout(() => {
    announcer.textContent = text;
  }, 50);
}

/** A decision was taken: say which, and offer Undo for as long as the service allows it. */
export function decided(decision) {
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

export function showNotice(text, undo) {
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

export async function undoDecision(url, label) {
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

/**
 * A notification was clicked: the dashboard on show, that item's card in view and focused,
 * and its detail open over it (as a click on its title opens it; closing it returns to the
 * card). A form or list left open is closed first: it would hold focus away from the card.
 */
export async function openFromNotification(item) {
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

/** The bell beside the deciding zone's title: it asks leave to notify, and says what it has. */
export function wireNotify() {
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
