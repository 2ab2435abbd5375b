// live.js: the live topology. One EventSource on /api/live keeps the
// newest snapshot, announces services that go down or come back, and hands
// each snapshot to the pages' listeners.

import { $, api, announce } from "./core.js";

// live holds the newest topology snapshot, the pages' listeners (called
// with each snapshot) and whether each service was up in the last one.
export const live = { topology: null, listeners: new Set(), lastUp: new Map(), source: null };

function onTopology(t) {
  live.topology = t;
  const changes = [];
  for (const app of t.apps || []) {
    for (const svc of app.services || []) {
      const was = live.lastUp.get(svc.name);
      if (was !== undefined && was !== svc.up) changes.push(svc.name + (svc.up ? " is up again" : " is down"));
      live.lastUp.set(svc.name, svc.up);
    }
  }
  if (changes.length) announce(changes.join(". "));
  $("#live-state").textContent = "Live · updated " + new Date().toLocaleTimeString([], { hour12: false });
  $("#live-state").classList.remove("stale");
  for (const f of live.listeners) f(t);
}

// startLive opens the EventSource; the header's live state says when it
// last updated or that it is reconnecting.
export function startLive() {
  if (!window.EventSource) return;
  const src = new EventSource("/api/live");
  live.source = src;
  src.addEventListener("topology", (e) => {
    try { onTopology(JSON.parse(e.data)); } catch (err) { console.error(err); }
  });
  src.onerror = () => {
    $("#live-state").textContent = "Live updates interrupted — reconnecting…";
    $("#live-state").classList.add("stale");
  };
}

// topology resolves to the newest snapshot, asking /api/topology if none
// has arrived yet; it rejects with an APIError if the dashboard refuses.
export async function topology() {
  if (live.topology) return live.topology;
  const r = await api("GET", "/api/topology");
  if (!live.topology) onTopology(r.data);
  return live.topology;
}
