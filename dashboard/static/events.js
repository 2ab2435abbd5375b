// events.js: the events page (a stream's events, filtered and paged) and
// the event page (its journey to every consumer, its trace as a
// waterfall, and the CloudEvent itself).

import { $, h, fill, api, fmtTime, fmtDateTime, fmtNanos, fmtMs, plural, decodeEvent, badge, onLeave, focusHeading } from "./core.js";
import { topology } from "./live.js";

// ---------- events page ----------
const evState = { stream: "", type: "", subject: "", entity: "", since: "", before: "", pages: [] };

export async function pageEvents(main) {
  const t = await topology().catch(() => ({ apps: [] }));
  const streams = (t.apps || []).map((a) => a.stream).filter(Boolean);
  if (!evState.stream) evState.stream = streams[0] || "SHOP";
  const form = h("form", { class: "filters", "aria-label": "Filter events" },
    h("div", { class: "field" }, h("label", { for: "f-stream" }, "Stream"),
      h("select", { id: "f-stream", name: "stream" }, (streams.length ? streams : [evState.stream]).map((st) => h("option", { value: st, selected: st === evState.stream }, st)))),
    h("div", { class: "field" }, h("label", { for: "f-type" }, "Type"), h("input", { id: "f-type", name: "type", value: evState.type, placeholder: "shop.order.created.v1" })),
    h("div", { class: "field" }, h("label", { for: "f-subject" }, "Subject"), h("input", { id: "f-subject", name: "subject", value: evState.subject, placeholder: "shop.orders.>" })),
    h("div", { class: "field" }, h("label", { for: "f-entity" }, "Entity id"), h("input", { id: "f-entity", name: "entity", value: evState.entity, placeholder: "42" })),
    h("div", { class: "field" }, h("label", { for: "f-since" }, "Since (local time)"), h("input", { id: "f-since", name: "since", type: "datetime-local", step: 1, value: evState.since || "" })),
    h("div", { class: "field buttons" }, h("button", { type: "submit", class: "primary" }, "Show events")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const fd = new FormData(form);
    evState.stream = fd.get("stream"); evState.type = fd.get("type").trim(); evState.subject = fd.get("subject").trim(); evState.entity = fd.get("entity").trim(); evState.since = fd.get("since");
    evState.before = ""; evState.pages = [];
    load();
  });
  $("select", form).addEventListener("change", () => form.requestSubmit());
  const list = h("div", { id: "event-list", "aria-live": "polite", "aria-busy": "true" });
  main.append(h("h1", {}, "Events"), h("p", { class: "lead" }, "Every event stored in a stream, newest first, 50 at a time. Choose one to follow its journey to every consumer."), form, list);
  focusHeading(main);
  async function load() {
    list.setAttribute("aria-busy", "true");
    const q = new URLSearchParams({ stream: evState.stream, limit: "50" });
    if (evState.before) q.set("before", evState.before);
    for (const k of ["type", "subject", "entity"]) if (evState[k]) q.set(k, evState[k]);
    if (evState.since) { const d = new Date(evState.since); if (!isNaN(d)) q.set("since", d.toISOString().replace(/\.\d+Z$/, "Z")); }
    try {
      const r = await api("GET", "/api/events?" + q);
      renderList(r.data || {});
    } catch (e) {
      list.replaceChildren(h("p", { class: "error" }, e.message));
    } finally {
      list.setAttribute("aria-busy", "false");
    }
  }
  function renderList(d) {
    const evs = d.events || [];
    const nav = h("div", { class: "pager" },
      h("button", { type: "button", disabled: !evState.pages.length, onclick: () => { evState.before = evState.pages.pop() || ""; load(); } }, "← Newer"),
      h("button", { type: "button", disabled: !evState.before, onclick: () => { evState.before = ""; evState.pages = []; load(); } }, "Newest"),
      h("button", { type: "button", id: "older", disabled: !d.next, onclick: () => { evState.pages.push(evState.before); evState.before = String(d.next); load(); } }, "Older →"));
    if (!evs.length && d.next) {
      // A filter the bus cannot apply (the entity) is searched a bounded
      // stretch of the stream per request; say so, and offer the next one.
      list.replaceChildren(h("p", { id: "no-match-yet" }, `No events match from ${evState.before ? "seq " + (Number(evState.before) - 1) : "the newest"} back to seq ${d.next}. Each search reads a bounded stretch of the stream: choose “Older →” to search further back.`), nav);
      return;
    }
    if (!evs.length) { list.replaceChildren(h("p", {}, "No events match."), nav); return; }
    list.replaceChildren(
      h("p", { class: "muted" }, `${evState.stream}: showing seq ${evs[0].seq} to ${evs[evs.length - 1].seq}`),
      h("div", { class: "table-wrap" }, h("table", { class: "events" },
        h("caption", { class: "visually-hidden" }, "Events in " + evState.stream + ", newest first"),
        h("thead", {}, h("tr", {}, ["Seq", "Time", "Type", "Subject", "Entity"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, evs.map((ev) => h("tr", { class: "clickable", onclick: (e) => { if (!e.target.closest("a") && !window.getSelection().toString()) location.hash = "#/event/" + encodeURIComponent(ev.id); } },
          h("td", { class: "num" }, String(ev.seq)),
          h("td", { class: "nowrap" }, h("span", { class: "date" }, ev.time ? new Date(ev.time).toLocaleDateString() + " " : ""), fmtTime(ev.time)),
          h("td", { class: "wrap" }, h("a", { href: "#/event/" + encodeURIComponent(ev.id), class: "event-link", "data-id": ev.id }, ev.type || ev.id)),
          h("td", { class: "mono wrap" }, ev.subject),
          h("td", { class: "mono" }, ev.entity || "")))))),
      nav);
  }
  await load();
}

// ---------- event page ----------
export async function pageEvent(main, args) {
  const id = args[0] || "";
  const body = h("div", { id: "journey", "aria-live": "polite" }, h("p", { class: "loading" }, "Loading the journey…"));
  main.append(h("p", { class: "crumbs" }, h("a", { href: "#/events" }, "← Events")), h("h1", {}, "Event ", h("code", { class: "id" }, id)), body);
  focusHeading(main);
  let last = "";
  let timer = 0;
  let stopped = false;
  onLeave(() => { stopped = true; clearTimeout(timer); });
  async function load() {
    try {
      const r = await api("GET", "/api/journey/" + encodeURIComponent(id));
      const text = JSON.stringify(r.data);
      if (text !== last) { last = text; renderJourney(body, r.data); }
    } catch (e) {
      if (!last) body.replaceChildren(h("p", { class: "error" }, e.status === 404 ? "No event or trace with this id is known (404)." : e.message));
    }
    if (!stopped) timer = setTimeout(load, 2000);
  }
  await load();
}

function renderJourney(root, j) {
  const ev = j.event || {};
  const ce = decodeEvent(ev.data);
  const steps = [];
  if (j.committed) steps.push(h("li", { class: "step" }, badge("committed"), h("div", {}, h("strong", {}, j.committed.service), " committed it to its database and outbox", h("span", { class: "when" }, fmtTime(j.committed.at)))));
  if (j.queued) steps.push(h("li", { class: "step" }, badge("pending"), h("div", {}, h("strong", {}, j.queued.service), " still has it in its outbox — not published yet", h("span", { class: "when" }, fmtTime(j.queued.at)))));
  if (j.published) steps.push(h("li", { class: "step" }, badge("published"), h("div", {}, "published to ", h("strong", {}, j.published.stream), " at seq ", h("strong", {}, String(j.published.sequence)), h("span", { class: "when" }, fmtTime(j.published.at), j.published.afterCommitNanos ? " · +" + fmtNanos(j.published.afterCommitNanos) : ""))));
  for (const c of j.consumers || []) {
    steps.push(h("li", { class: "step consumer", "data-consumer": c.consumer, "data-outcome": c.outcome },
      badge(c.outcome),
      h("div", {},
        h("strong", {}, c.service), " ", h("span", { class: "mono muted" }, c.consumer),
        h("span", { class: "when" }, fmtTime(c.at), c.afterCommitNanos ? " · +" + fmtNanos(c.afterCommitNanos) + " after commit" : ""),
        c.attempt && !c.redriven ? h("div", { class: "small" }, "attempt " + c.attempt) : null,
        c.redriven ? h("div", { class: "small redriven" },
          c.deadAttempts ? [`dead-lettered after ${plural(c.deadAttempts, "attempt")} (`, h("span", { class: "error" }, c.deadError || "no error recorded"), "), then "] : "",
          redrives(c.redrives)) : null,
        c.duplicates ? h("div", { class: "small" }, plural(c.duplicates, "duplicate delivery", "duplicate deliveries") + " skipped") : null,
        c.waiting ? h("div", { class: "small" }, `${c.waiting} waiting; settled up to seq ${c.ackFloor || 0}`) : null,
        c.error ? h("div", { class: "small error" }, c.error) : null,
        c.dlqSeq ? h("div", { class: "small" }, h("a", { href: "#/dlq" }, `dead letter #${c.dlqSeq} — redrive or discard it`)) : null,
        c.note ? h("div", { class: "small muted" }, c.note) : null)));
  }
  if (!(j.consumers || []).length) steps.push(h("li", { class: "step" }, h("div", { class: "muted" }, "No consumer subscribes to this event's subject.")));
  fill(root, 
    h("dl", { class: "summary" },
      h("dt", {}, "Type"), h("dd", {}, h("code", {}, ev.type || "")),
      h("dt", {}, "Subject"), h("dd", {}, h("code", {}, ev.subject || "")),
      ev.entity ? [h("dt", {}, "Entity"), h("dd", {}, h("code", {}, ev.entity))] : null,
      h("dt", {}, "Source"), h("dd", {}, ev.source || ""),
      h("dt", {}, "Time"), h("dd", {}, fmtDateTime(ev.time)),
      j.traceId ? [h("dt", {}, "Trace"), h("dd", {}, h("code", {}, j.traceId))] : null),
    (j.unreachable || []).length ? h("p", { class: "warn-box" }, "Did not answer, so their spans and database facts are missing: " + j.unreachable.join(", ")) : null,
    h("section", { "aria-labelledby": "jh" }, h("h2", { id: "jh" }, "Journey"), h("ol", { class: "journey" }, steps)),
    h("section", { "aria-labelledby": "th" }, h("h2", { id: "th" }, "Trace"), waterfall(j.spans || [])),
    h("section", { "aria-labelledby": "ch" }, h("h2", { id: "ch" }, "CloudEvent"), h("pre", { class: "json", tabindex: "0" }, typeof ce === "string" ? ce : JSON.stringify(ce, null, 2))));
}

// redrives says when, and by whom, the event was redriven to a consumer
// (from the redrive messages in the stream; spans alone only say it was).
function redrives(rs) {
  if (!rs || !rs.length) return "redriven from the dead letters";
  return ["redriven ", rs.map((r, i) => [i ? " and " : "", h("span", { class: "redrive", "data-sequence": r.sequence }, "at ", fmtDateTime(r.at), r.by ? " by " + r.by : "")])];
}

// waterfall draws the trace's spans as bars on one time axis, children
// indented under their parents.
function waterfall(spans) {
  if (!spans.length) return h("p", { class: "muted" }, "No spans: the services' span rings hold none for this trace (they keep only recent ones).");
  // milliseconds since the epoch, keeping the nanoseconds Go writes
  const t = (x) => {
    const str = String(x);
    const m = str.match(/^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$/);
    if (!m) return new Date(str).getTime();
    return new Date(m[1] + m[3]).getTime() + Number("0." + (m[2] || "0")) * 1000;
  };
  const rows = spans.map((sp) => ({ sp, start: t(sp.start), end: Math.max(t(sp.end), t(sp.start)) }));
  const t0 = Math.min(...rows.map((r) => r.start));
  const t1 = Math.max(...rows.map((r) => r.end));
  const total = Math.max(t1 - t0, 0.001);
  const byId = new Map(spans.map((sp) => [sp.spanId, sp]));
  const depth = (sp) => { let d = 0; let p = sp; const seen = new Set(); while (p && p.parentId && byId.has(p.parentId) && !seen.has(p.parentId) && d < 8) { seen.add(p.parentId); p = byId.get(p.parentId); d++; } return d; };
  rows.sort((a, b) => a.start - b.start);
  return h("div", { class: "waterfall" },
    h("div", { class: "wf-axis", "aria-hidden": "true" }, h("span", {}, "0"), h("span", {}, fmtMs(total / 2)), h("span", {}, fmtMs(total))),
    h("ul", { class: "wf-rows" }, rows.map((r) => {
      const left = ((r.start - t0) / total) * 100;
      const width = Math.max(((r.end - r.start) / total) * 100, 0.6);
      const dur = fmtMs(r.end - r.start);
      return h("li", { class: "wf-row" + (r.sp.error ? " wf-error" : ""), title: r.sp.error || "" },
        h("span", { class: "wf-label", style: `padding-left:${depth(r.sp) * 0.8}rem` }, h("strong", {}, r.sp.service), " ", r.sp.name),
        h("span", { class: "wf-track" },
          h("span", { class: "wf-bar svc-" + hashColor(r.sp.service), style: `left:${left.toFixed(2)}%;width:${width.toFixed(2)}%` }),
          h("span", { class: "visually-hidden" }, ` starts at +${fmtMs(r.start - t0)}, lasts ${dur}${r.sp.error ? ", failed: " + r.sp.error : ""}`)),
        h("span", { class: "wf-dur", "aria-hidden": "true" }, dur));
    })));
}
function hashColor(name) { let x = 0; for (const c of String(name)) x = (x * 31 + c.charCodeAt(0)) >>> 0; return x % 6; }
