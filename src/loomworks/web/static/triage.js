// Triage on a needs_you card and around it: "I'm on it" (claims), the snooze menu and its
// "a chosen time" form, the Snoozed list, and desktop notifications for arrivals while the page
// is hidden. The kinds and their wording stay the service's: everything here reads the item's
// own fields.

import { $, h, hidden } from "./dom.js";

// ---------------------------------------------------------------- claims and overdue

/**
 * The claim line of a card: "I'm on it" when nobody holds the item, "Release" when I do, and
 * "<name> is on it" when a colleague does. `me` is my person id (GET /me).
 */
export function claimControls(item, { me, claim, release }) {
  if (!item.detail_url || !claim) return null;
  const holder = item.claimed_by;
  let part;
  if (!holder) {
    part = h(
      "button",
      { type: "button", class: "secondary claim", "data-focus": "claim", onclick: () => claim(item) },
      "I'm on it",
      hidden(`: ${item.item_label}`),
    );
  } else if (holder.id === me) {
    part = [
      h("span", { class: "claimed mine" }, "You are on it"),
      h(
        "button",
        { type: "button", class: "quiet release", "data-focus": "claim", onclick: () => release(item) },
        "Release",
        hidden(` ${item.item_label}`),
      ),
    ];
  } else {
    part = h("span", { class: "claimed theirs" }, `${holder.display_name} is on it`);
  }
  return part;
}

/** A visible word (not colour alone) on an item that has waited too long. */
export function overdueMark(item) {
  return item.overdue ? h("strong", { class: "overdue" }, "Overdue") : null;
}

// ---------------------------------------------------------------- snooze

function pad(n) {
  return String(n).padStart(2, "0");
}

/** A local time as ISO 8601 with its UTC offset ("2026-12-07T09:00:00+01:00"). */
export function localIso(date) {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const abs = Math.abs(offset);
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}

/** The snooze choices, each a function of now giving the local moment it ends. */
export const SNOOZES = [
  { value: "hour", label: "1 hour", until: (now) => new Date(now.getTime() + 3600_000) },
  {
    value: "tomorrow",
    label: "Tomorrow 09:00",
    until: (now) => new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1, 9, 0, 0),
  },
  {
    value: "monday",
    label: "Next Monday 09:00",
    until: (now) => {
      const ahead = ((8 - now.getDay()) % 7) || 7; // days to the next Monday, never today
      return new Date(now.getFullYear(), now.getMonth(), now.getDate() + ahead, 9, 0, 0);
    },
  },
];

// The menu's last choice: no moment of its own, it opens the form (chooseSnoozeTime).
const CHOSEN = { value: "chosen", label: "A chosen time…" };

/**
 * A card's "Snooze…" menu: `snooze(item, until)` for a fixed choice, `choose(item, button)` for
 * a chosen time. A menu button, not a <select>: a closed select acts on `change`, which arrow
 * keys fire in Chromium on Linux and Windows, so moving through the page snoozed the item.
 * Here nothing happens until a choice is made in the open list (Enter, Space or a click);
 * arrow keys only move within it, and Escape, Tab or a click elsewhere closes it.
 */
export function snoozeMenu(item, { snooze, choose }) {
  if (!snooze) return null;
  const id = `snooze-${item.item_kind}-${item.item_id}`;
  const name = `Snooze ${item.item_label}`;
  const button = h(
    "button",
    {
      type: "button",
      class: "secondary snooze",
      id: `${id}-button`,
      "data-focus": "snooze",
      "aria-haspopup": "true",
      "aria-expanded": "false",
      "aria-controls": `${id}-menu`,
      "aria-label": name,
    },
    "Snooze…",
  );
  const pick = (act) => () => {
    close(true);
    act();
  };
  const entries = [
    ...SNOOZES.map((s) => [s.label, pick(() => snooze(item, localIso(s.until(new Date()))))]),
    ...(choose ? [[CHOSEN.label, pick(() => choose(item, button))]] : []),
  ];
  // The entries carry the button's data-focus: a card redrawn while its menu is open hands
  // focus to the new card's (closed) button.
  const choices = entries.map(([label, onclick]) =>
    h("button", { type: "button", role: "menuitem", tabIndex: -1, "data-focus": "snooze", onclick }, label),
  );
  const menu = h(
    "div",
    { class: "snooze-choices", id: `${id}-menu`, role: "menu", "aria-labelledby": `${id}-button`, hidden: true },
    choices,
  );
  const wrap = h("div", { class: "snooze-menu" }, button, menu);

  function open() {
    menu.classList.remove("above");
    menu.hidden = false;
    // Below the button, unless the list would end past the window's bottom (a card near it) and
    // there is more room above: out of sight, its first choice focused would scroll the page.
    const room = document.documentElement.clientHeight;
    const at = button.getBoundingClientRect();
    if (menu.getBoundingClientRect().bottom > room && at.top > room - at.bottom) menu.classList.add("above");
    button.setAttribute("aria-expanded", "true");
    choices[0].focus();
  }
  function close(refocus) {
    if (menu.hidden) return;
    if (refocus) button.focus(); // before hiding, so focus never falls to the page
    menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
  }
  button.addEventListener("click", () => (menu.hidden ? open() : close(true)));
  menu.addEventListener("keydown", (event) => {
    // The open list owns the keyboard: the page's shortcuts (j, k, x, ?) wait until it closes.
    event.stopPropagation();
    const at = choices.indexOf(document.activeElement);
    const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: choices.length - 1 }[event.key];
    if (to !== undefined) {
      choices[(to + choices.length) % choices.length].focus();
    } else if (event.key === "Escape") {
      close(true);
    } else if (event.key === "Tab") {
      close(false); // and focus moves on as Tab moves it
      return;
    } else {
      return;
    }
    event.preventDefault();
  });
  // Focus gone elsewhere (a click outside, another control): the list closes.
  wrap.addEventListener("focusout", (event) => {
    if (!wrap.contains(event.relatedTarget)) close(false);
  });
  return wrap;
}

// ---------------------------------------------------------------- snooze until a chosen time

/** A local moment as a datetime-local input's value ("2026-12-07T09:00"). */
export function inputValue(date) {
  return localIso(date).slice(0, 16);
}

/** A datetime-local input's value read as local time; null unless it is a whole date and time. */
export function fromInput(value) {
  const parts = /^(\d{4,})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?$/.exec(value);
  if (!parts) return null;
  const [year, month, day, hour, minute, second] = parts.slice(1).map((part) => Number(part || 0));
  const date = new Date(year, month - 1, day, hour, minute, second);
  return Number.isNaN(date.getTime()) ? null : date;
}

// The form is one <dialog> in index.html, opened for one item at a time.
const chosen = { item: null, opener: null };

function chosenError(text) {
  const input = $("#snooze-at-until");
  $("#snooze-at-error").textContent = text;
  if (text) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

/**
 * Open the form for `item`: from an hour ahead, never before now, in this browser's zone.
 * `opener` (the menu's button) gets focus back when the form closes.
 */
export function chooseSnoozeTime(item, opener) {
  const now = new Date();
  const input = $("#snooze-at-until");
  chosen.item = item;
  chosen.opener = opener;
  $("#snooze-at-label").textContent = item.item_label;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  $("#snooze-at-hint").textContent = zone ? `Your local time (${zone}).` : "Your local time.";
  input.min = inputValue(now);
  input.value = inputValue(new Date(now.getTime() + 3600_000));
  chosenError("");
  $("#snooze-at-submit").disabled = false;
  $("#snooze-at").showModal();
  input.focus();
}

/**
 * Wire the form once. `send(item, until, report)` PUTs the snooze and resolves true when the
 * service took it; it hands the service's refusal to `report`, which shows it in the form
 * while the form is open for that item (and answers false otherwise, so it goes elsewhere).
 * `away(item)` is where focus goes when the menu button that opened the form has gone: the item's
 * card redrawn meanwhile, or gone (snoozed).
 */
export function wireSnoozeTime({ send, away }) {
  const dialog = $("#snooze-at");
  const input = $("#snooze-at-until");
  const submit = $("#snooze-at-submit");
  input.addEventListener("input", () => chosenError(""));
  $("#snooze-at-cancel").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    const { item, opener } = chosen;
    chosen.item = null;
    chosen.opener = null;
    if (opener && opener.isConnected) opener.focus();
    else if (item) away(item);
  });
  $("#snooze-at-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const item = chosen.item;
    if (!item) return;
    const until = fromInput(input.value);
    if (!until) {
      chosenError("Choose a date and a time.");
      input.focus();
      return;
    }
    if (until.getTime() <= Date.now()) {
      const shown = until.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
      chosenError(`${shown} has passed: choose a later time.`);
      input.focus();
      return;
    }
    chosenError("");
    submit.disabled = true;
    const report = (text) => {
      if (!dialog.open || chosen.item !== item) return false;
      chosenError(`Not snoozed: ${text}`);
      return true;
    };
    const done = await send(item, localIso(until), report);
    submit.disabled = false;
    if (done && chosen.item === item) dialog.close();
    else if (!done && dialog.open && chosen.item === item && !$("#snooze-at-error").textContent) {
      chosenError("Not snoozed: the service did not answer. Try again.");
    }
  });
}

/** The path of one of my snoozes. */
export function snoozePath(item) {
  return `/me/snoozes/${encodeURIComponent(item.item_kind)}/${encodeURIComponent(item.item_id)}`;
}

/** The "Snoozed" section's rows (GET /me/snoozes), each with "Bring back". */
export function snoozedRows(items, bringBack) {
  return items.map((item) =>
    h(
      "li",
      { class: "snoozed-item" },
      h("span", { class: "snoozed-label" }, item.item_label),
      h(
        "span",
        { class: "item-meta" },
        ` ${item.engagement_name} · until `,
        h("time", { dateTime: item.until }, new Date(item.until).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" })),
      ),
      " ",
      h(
        "button",
        { type: "button", class: "quiet", onclick: () => bringBack(item) },
        "Bring back",
        hidden(` ${item.item_label}`),
      ),
    ),
  );
}

// ---------------------------------------------------------------- desktop notifications

export const notify = {
  supported: () => "Notification" in window,
  granted: () => "Notification" in window && Notification.permission === "granted",
};

/**
 * Raise a notification for an item that arrived while the page was hidden; clicking it brings
 * the window forward and hands the item to `open` (its card and its detail).
 */
export function raise(item, open) {
  if (!notify.granted() || !document.hidden) return;
  try {
    const note = new Notification(item.item_label, { body: item.engagement_name, tag: `${item.item_kind}:${item.item_id}` });
    note.onclick = () => {
      window.focus();
      open(item);
      if (typeof note.close === "function") note.close();
    };
  } catch {
    // Some browsers allow notifications only from a service worker: nothing to show then.
  }
}
