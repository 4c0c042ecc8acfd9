// Keeping the page current: the event stream when the service offers it, else polling (its
// interval the service's X-Poll-Interval), and refreshAll() for everything at once.

import { refreshCounts } from "./filters.js";
import { CLOCK_ZONES, ZONES } from "./registry.js";
import { guarded } from "./session.js";
import { state } from "./state.js";
import { refreshZone } from "./zones.js";

export function notePollInterval(answer) {
  const value = Number(answer.headers.get("X-Poll-Interval"));
  if (Number.isFinite(value) && value >= 1) state.pollSeconds = value;
}

export function refreshAll() {
  return guarded(() => Promise.all([refreshCounts(), ...ZONES.map(refreshZone)]));
}

export function stopLive() {
  clearTimeout(state.pollTimer);
  clearInterval(state.clockTimer);
  clearTimeout(state.streamRetry);
  if (state.stream) state.stream.close();
  state.stream = null;
  state.streamOpen = false;
}

export function openStream() {
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

export function schedulePoll() {
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
