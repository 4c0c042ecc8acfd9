// The page's own state, which its modules share: the session's timers and event stream, the
// filters, each zone's shown items, the view on show.

import { ZONES } from "./registry.js";

export const PAGE_SIZE = 10;

export const state = {
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

export function resetZones() {
  for (const zone of ZONES) state.zones[zone] = freshZone();
}
