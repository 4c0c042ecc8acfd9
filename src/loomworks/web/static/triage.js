// Triage on a needs_you card and around it: "I'm on it" (claims), the snooze menu, the
// Snoozed list, and desktop notifications for arrivals while the page is hidden. The kinds and
// their wording stay the service's: everything here reads the item's own fields.

import { h, hidden } from "./items.js";

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

export function snoozeMenu(item, snooze) {
  if (!snooze) return null;
  return h(
    "select",
    {
      class: "snooze",
      "data-focus": "snooze",
      "aria-label": `Snooze ${item.item_label}`,
      onchange: (event) => {
        const choice = SNOOZES.find((s) => s.value === event.target.value);
        if (choice) snooze(item, localIso(choice.until(new Date())));
      },
    },
    h("option", { value: "" }, "Snooze…"),
    SNOOZES.map((s) => h("option", { value: s.value }, s.label)),
  );
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

/** Raise a notification for an item that arrived while the page was hidden. */
export function raise(item, focusCard) {
  if (!notify.granted() || !document.hidden) return;
  try {
    const note = new Notification(item.item_label, { body: item.engagement_name, tag: `${item.item_kind}:${item.item_id}` });
    note.onclick = () => {
      window.focus();
      focusCard(item);
      if (typeof note.close === "function") note.close();
    };
  } catch {
    // Some browsers allow notifications only from a service worker: nothing to show then.
  }
}

