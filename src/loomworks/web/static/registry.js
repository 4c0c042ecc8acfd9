// What the service says the page shows (GET /dashboard/registry.json): the zones in page order,
// their kinds, and the wording of each; learnt once, before anything is drawn.

// Filled in by learnRegistry(). Exported bindings are live: importers see what it set.
export let ZONES = [];
export const ZONE_TITLES = {};
export const ZONE_KINDS = {};
export const KIND_LABELS = {};
const DECISION_WORDS = {}; // kind -> decision -> how it reads once taken ("confirmed")
export let DECIDING_ZONE = null; // the zone whose items the caller decides (bulk selection lives there)
export const CLOCK_ZONES = []; // zones whose items change with the clock alone (stalled jobs)

/** Take in the registry document's zones, in page order. */
export function learnRegistry(zones) {
  ZONES = zones.map((zone) => zone.zone);
  for (const zone of zones) {
    ZONE_TITLES[zone.zone] = zone.title;
    ZONE_KINDS[zone.zone] = zone.kinds.map((kind) => kind.kind);
    for (const kind of zone.kinds) {
      KIND_LABELS[kind.kind] = kind.name;
      DECISION_WORDS[kind.kind] = Object.fromEntries(kind.decisions.map((d) => [d.decision, d.done]));
    }
    if (zone.audience === "deciders") DECIDING_ZONE = zone.zone;
    if (zone.clock) CLOCK_ZONES.push(zone.zone);
  }
}

export function decidedWords(kind, decision) {
  const done = (DECISION_WORDS[kind] || {})[decision] || "decided";
  return done[0].toUpperCase() + done.slice(1);
}
