// The operator dashboard's entry point: learn the zones from the service, draw and wire the
// page, then start it (signed in) or show the sign-in form. The page's modules:
//   session.js   signing in and out, the start, guarded()
//   live.js      the event stream, else polling; refreshAll()
//   zones.js     the zones' sections and cards, read and redrawn
//   filters.js   the filters in the URL, and the counts beside them
//   actions.js   decisions (one, or in bulk), claims and snoozes
//   views.js     an item's detail in the page, and Done (my decisions)
//   notices.js   the banner, announcements, the notice with Undo, desktop notifications
//   registry.js  what the service says the page shows; state.js, what the modules share
//   items.js, detail.js, triage.js: a card, an item's detail, a card's triage controls
//   keys.js, the keyboard; dom.js, building nodes; api.js, calling the service
// They call one another's functions, but only once boot() has run: nothing runs at load.

import { renderBulk, snooze } from "./actions.js";
import { Unavailable, api } from "./api.js";
import { $ } from "./dom.js";
import { claimedFilter, readFilters, renderFilters, wireFilters } from "./filters.js";
import { wireKeys } from "./keys.js";
import { refreshAll } from "./live.js";
import { wireBanner, wireNotify } from "./notices.js";
import { DECIDING_ZONE, ZONES, ZONE_TITLES, learnRegistry } from "./registry.js";
import { signIn, signOut, start } from "./session.js";
import { resetZones, state } from "./state.js";
import { wireSnoozeTime } from "./triage.js";
import { closeDetail, loadDone, restoreFocus, showView, skipTo } from "./views.js";
import { cardOf, wireZones, zoneSection } from "./zones.js";

/** The zones, their kinds and wording from the service; the zones' sections drawn from them. */
async function loadRegistry() {
  const answer = await api("/dashboard/registry.json");
  learnRegistry(answer.data.zones);
  $("#zones").replaceChildren(...answer.data.zones.map(zoneSection));
  if (DECIDING_ZONE) $(".search").after(claimedFilter());
  $("#legend").textContent = `Numbers on each engagement: ${ZONES.map((zone) => ZONE_TITLES[zone].toLowerCase()).join(" · ")}.`;
}

function wire() {
  $("#sign-in-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOut);
  $("#skip-link").addEventListener("click", skipTo);
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

async function boot() {
  wireBanner();
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
  wireFilters();
  wireNotify();
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
