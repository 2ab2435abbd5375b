// topology.js: the topology page. Each app drawn as an SVG graph around
// its stream, a card per service with its numbers, and the operator's
// Stop/Start buttons.

import { $, h, s, api, operatorToken, hideAlert, showError, announce, fmtRate, fmtSecs, fmtDateTime, plural, onLeave, focusHeading } from "./core.js";
import { live, topology } from "./live.js";

// stateOf says whether a service is up, stopped (from the dashboard) or
// down.
export function stateOf(svc) {
  if (svc.up) return "up";
  return svc.controllable && svc.running === false ? "stopped" : "down";
}

export function pageTopology(main) {
  main.append(
    h("h1", {}, "Topology"),
    h("p", { class: "lead" }, "Each service owns its database and publishes events to its app's stream through an outbox; every consumer reads the stream at its own pace. Boxes turn red when a service is down — the query services keep answering from their own read models."),
    h("div", { id: "apps" }, h("p", { class: "loading" }, "Loading the topology…")),
  );
  focusHeading(main);
  const draw = (t) => drawTopology($("#apps", main), t);
  live.listeners.add(draw);
  onLeave(() => live.listeners.delete(draw));
  let width = window.innerWidth;
  const resize = () => { if (Math.abs(window.innerWidth - width) > 40 && live.topology) { width = window.innerWidth; $("#apps", main).replaceChildren(); draw(live.topology); } };
  window.addEventListener("resize", resize);
  onLeave(() => window.removeEventListener("resize", resize));
  return topology().then(draw);
}

function drawTopology(root, t) {
  if (!root.isConnected) return;
  const apps = t.apps || [];
  if (root.querySelector(".loading")) root.replaceChildren();
  if (!apps.length) { root.replaceChildren(h("p", {}, "No apps are running.")); return; }
  for (const app of apps) {
    const id = "app-" + app.name.replace(/[^A-Za-z0-9_-]/g, "_");
    let sec = root.querySelector("#" + id);
    if (!sec) {
      sec = h("section", { id, class: "app", "aria-labelledby": id + "-h" },
        h("h2", { id: id + "-h" }, app.name, " ", h("span", { class: "muted" }, "· stream ", app.stream)),
        h("p", { class: "app-error error", hidden: true }),
        h("div", { class: "graph" }),
        h("div", { class: "cards" }));
      root.append(sec);
    }
    const err = $(".app-error", sec);
    err.hidden = !app.error;
    err.textContent = app.error ? "The bus could not say everything about " + app.stream + ": " + app.error : "";
    $(".graph", sec).replaceChildren(graphSVG(app));
    drawCards($(".cards", sec), app);
  }
}

// graphSVG draws one app: publishing services on the left, the stream in
// the middle, services that only consume on the right (at phone width:
// one column of services, the stream on the right).
function graphSVG(app) {
  const services = app.services || [];
  const narrow = window.innerWidth < 700;
  const W = narrow ? 380 : 1000;
  const boxW = narrow ? 285 : 350;
  const streamW = narrow ? 56 : 136;
  const gap = 16;
  const left = [], right = [];
  for (const svc of services) {
    if (narrow || (svc.publishes || []).length || !(svc.consumes || []).length) left.push(svc); else right.push(svc);
  }
  const lineH = 16;
  const heightOf = (svc) => 52 + lineH * ((svc.consumes || []).length + (svc.relay ? 1 : 0));
  const colHeight = (col) => col.reduce((a, svc) => a + heightOf(svc) + gap, 0) - gap;
  const H = Math.max(colHeight(left), colHeight(right), 120) + 40;
  const streamX = narrow ? W - streamW - 6 : (W - streamW) / 2;
  const leftX = narrow ? 4 : 8;
  const rightX = W - boxW - 8;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", class: narrow ? "narrow" : "wide",
    "aria-label": `${app.name}: ${services.length} services around the ${app.stream} stream; ${services.filter((x) => !x.up).map((x) => x.name + " is down").join(", ") || "all up"}` });
  svg.append(s("defs", {},
    s("marker", { id: "arrow-" + app.name, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }))));
  // the stream
  const sy = 20, sh = H - 40;
  const streamG = s("g", { class: "stream" },
    s("rect", { x: streamX, y: sy, width: streamW, height: sh, rx: 10 }));
  if (narrow) {
    streamG.append(s("text", { x: streamX + streamW / 2, y: sy + sh / 2, class: "stream-label", transform: `rotate(-90 ${streamX + streamW / 2} ${sy + sh / 2})`, "text-anchor": "middle", "dominant-baseline": "middle" }, `${app.stream} · seq ${app.lastSeq ?? 0}`));
  } else {
    streamG.append(
      s("text", { x: streamX + streamW / 2, y: sy + sh / 2 - 10, class: "stream-label", "text-anchor": "middle" }, app.stream),
      s("text", { x: streamX + streamW / 2, y: sy + sh / 2 + 10, class: "stream-sub", "text-anchor": "middle" }, "last seq " + (app.lastSeq ?? 0)),
      s("text", { x: streamX + streamW / 2, y: sy + sh / 2 + 26, class: "stream-sub", "text-anchor": "middle" }, [].concat(app.subjects || []).join(" ")));
  }
  svg.append(streamG);
  const marker = `url(#arrow-${app.name})`;
  const place = (col, x, side) => {
    const total = colHeight(col);
    let y = 20 + (H - 40 - total) / 2;
    for (const svc of col) {
      const bh = heightOf(svc);
      const cy = y + bh / 2;
      const boxEdge = side === "left" ? x + boxW : x;
      const streamEdge = side === "left" ? streamX : streamX + streamW;
      const pubs = (svc.publishes || []).length, cons = (svc.consumes || []).length;
      if (pubs) {
        const ay = cons ? cy - 9 : cy;
        svg.append(s("line", { x1: boxEdge, y1: ay, x2: streamEdge, y2: ay, class: "edge publish", "marker-end": marker },
          s("title", {}, `${svc.name} publishes ${svc.publishes.join(", ")}`)));
      }
      if (cons) {
        const ay = pubs ? cy + 9 : cy;
        const rate = svc.consumes.reduce((a, c) => a + (c.eventsPerSecond || 0), 0);
        const failing = svc.consumes.some((c) => c.failing);
        svg.append(s("line", { x1: streamEdge, y1: ay, x2: boxEdge, y2: ay, class: "edge consume" + (svc.up ? "" : " stalled") + (failing ? " failing" : ""), "marker-end": marker },
          s("title", {}, `${svc.name} consumes ${svc.consumes.map((c) => c.durable).join(", ")}`)));
        if (!narrow) {
          const mx = (boxEdge + streamEdge) / 2;
          svg.append(s("text", { x: mx, y: ay + 14, class: "edge-label", "text-anchor": "middle" }, fmtRate(rate) + "/s"));
        }
      }
      svg.append(serviceBox(svc, x, y, boxW, bh, narrow));
      y += bh + gap;
    }
  };
  place(left, leftX, "left");
  place(right, rightX, "right");
  return svg;
}

// storeOf names a service's database in full (sqlite:/path/x.db);
// storeShort as its kind and name (sqlite · x.db).
function storeOf(svc) {
  if (svc.store) return svc.store;
  return svc.up ? "no database" : "database: ? (down)";
}
function storeShort(svc) {
  const st = svc.store;
  if (!st) return storeOf(svc);
  const m = st.match(/^([a-z0-9+]+):(.*)$/i);
  if (!m) return st;
  const name = m[2].split("?")[0].replace(/\/+$/, "").split("/").pop();
  return name ? `${m[1]} · ${name}` : m[1];
}
function clip(text, max) { return text.length > max ? text.slice(0, max - 1) + "…" : text; }

function serviceBox(svc, x, y, w, bh, narrow) {
  const failing = svc.up && (svc.consumes || []).some((c) => c.failing);
  const cls = "svc " + (svc.up ? "up" : "down") + (failing ? " failing" : "");
  const g = s("g", { class: cls, "data-service": svc.name });
  g.append(s("rect", { x, y, width: w, height: bh, rx: 8 }));
  g.append(s("text", { x: x + 12, y: y + 20, class: "svc-name" }, svc.name));
  g.append(s("text", { x: x + w - 12, y: y + 20, class: "svc-state", "text-anchor": "end" }, failing ? "⟳ up, retrying" : { up: "● up", stopped: "■ stopped", down: "✕ down" }[stateOf(svc)]));
  // the database: a small cylinder and its kind
  const dx = x + 14, dy = y + 28;
  g.append(s("path", { class: "db", d: `M${dx},${dy + 2} a6,2.5 0 0,0 12,0 a6,2.5 0 0,0 -12,0 v9 a6,2.5 0 0,0 12,0 v-9` }));
  g.append(s("text", { x: dx + 18, y: dy + 11, class: "svc-line" }, clip(storeShort(svc) + (svc.readModel ? " · read model" : "") + ((svc.publishes || []).length ? " · publishes " + plural(svc.publishes.length, "type") : ""), Math.floor((w - 44) / (narrow ? 5.6 : 6.2)))));
  let ly = y + 46 + 12;
  const max = narrow ? 15 : 20;
  for (const c of svc.consumes || []) {
    const name = c.durable.length > max ? c.durable.slice(0, max - 1) + "…" : c.durable;
    const t = s("text", { x: x + 12, y: ly, class: "svc-line mono" });
    t.append(s("tspan", {}, name + "  "));
    t.append(s("tspan", {}, `${fmtRate(c.eventsPerSecond)}/s lag ${fmtSecs(c.lagSeconds)} pend ${c.pending || 0}`));
    t.append(s("tspan", { class: c.deadLettered ? "dlq-bad" : "" }, ` DLQ ${c.deadLettered || 0}`));
    t.append(s("title", {}, `${c.durable}: ${fmtRate(c.eventsPerSecond)} events/s, ${fmtSecs(c.lagSeconds)} behind, ${c.pending || 0} pending, ${c.ackPending || 0} in progress, ${c.deadLettered || 0} dead-lettered` + (c.failing ? `; failing since ${fmtDateTime(c.failing.since)}: ${c.failing.error}` : "")));
    g.append(t);
    ly += 16;
  }
  if (svc.relay) {
    const r = svc.relay;
    g.append(s("text", { x: x + 12, y: ly, class: "svc-line mono" + (r.depth ? " warn" : "") }, `outbox ${r.depth || 0} waiting · oldest ${fmtSecs(r.oldestSeconds)} · ${r.published || 0} sent`));
  }
  g.append(s("title", {}, `${svc.name}: ${svc.up ? "up" : "down" + (svc.error ? " (" + svc.error + ")" : "")}, ${storeOf(svc)}`));
  return g;
}

// drawCards lists every service with its numbers and its Stop/Start
// button. The cards are kept across updates so focus stays put.
function drawCards(root, app) {
  for (const svc of app.services || []) {
    const id = "svc-" + svc.name.replace(/[^A-Za-z0-9_-]/g, "_");
    let card = root.querySelector("#" + id);
    if (!card) {
      card = h("article", { id, class: "card", "aria-labelledby": id + "-h" },
        h("div", { class: "card-head" },
          h("h3", { id: id + "-h" }, svc.url ? h("a", { href: svc.url, target: "_blank", rel: "noopener" }, svc.name) : svc.name),
          h("span", { class: "state" })),
        h("div", { class: "facts" }),
        h("div", { class: "card-actions" }));
      root.append(card);
    }
    card.className = "card " + (svc.up ? "up" : "down");
    const state = $(".state", card);
    state.textContent = stateOf(svc);
    state.className = "state badge " + (svc.up ? "badge-applied" : "badge-dead-lettered");
    const facts = h("dl", {},
      h("dt", {}, "Database"), h("dd", { title: storeOf(svc) }, storeShort(svc) + (svc.readModel ? " (its read model)" : "")),
      !svc.up && svc.error ? [h("dt", {}, "Why down"), h("dd", { class: "error" }, svc.error)] : null,
      svc.up && svc.ready === false ? [h("dt", {}, "Ready"), h("dd", {}, "not yet")] : null,
      (svc.publishes || []).length ? [h("dt", {}, "Publishes"), h("dd", {}, svc.publishes.map((p) => h("code", {}, p)))] : null,
      svc.relay ? [h("dt", {}, "Outbox"), h("dd", {}, `${svc.relay.depth || 0} waiting, oldest ${fmtSecs(svc.relay.oldestSeconds)}, ${svc.relay.published || 0} published`)] : null,
    );
    const cons = (svc.consumes || []).length ? h("table", { class: "mini" },
      h("caption", { class: "visually-hidden" }, svc.name + " consumers"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Consumer"), h("th", { scope: "col" }, "ev/s"), h("th", { scope: "col" }, "Lag"), h("th", { scope: "col" }, "Pending"), h("th", { scope: "col" }, "DLQ"))),
      h("tbody", {}, svc.consumes.map((c) => [h("tr", { "data-consumer": c.durable },
        h("th", { scope: "row", title: c.error || null }, c.durable, c.error ? " ⚠" : ""),
        h("td", {}, fmtRate(c.eventsPerSecond)),
        h("td", {}, fmtSecs(c.lagSeconds)),
        h("td", {}, String(c.pending || 0)),
        h("td", {}, c.deadLettered ? h("a", { href: "#/dlq", class: "dlq-bad" }, String(c.deadLettered)) : "0")),
        c.failing ? h("tr", { class: "failing", "data-failing": c.durable }, h("td", { colspan: 5 }, failingText(c.failing))) : null]))) : null;
    $(".facts", card).replaceChildren(facts, cons || "");
    const actions = $(".card-actions", card);
    if (svc.controllable) {
      const btn = $("button", actions);
      if (btn) updateButton(btn, svc); else actions.append(serviceButton(svc));
    } else {
      actions.replaceChildren();
    }
  }
}

// failingText says what a failing consumer retries, since when and why.
function failingText(f) {
  const last = f.attempt >= f.maxDeliver;
  return [h("span", { class: "badge badge-" + (last ? "dead-lettered" : "retrying") }, last ? "dead-lettered" : "retrying"), " ",
    `${f.subject} #${f.sequence}, attempt ${f.attempt} of ${f.maxDeliver}, failing since ${fmtDateTime(f.since)}: `,
    h("span", { class: "error" }, f.error),
    f.event ? [" ", h("a", { href: "#/event/" + encodeURIComponent(f.event) }, "journey")] : null];
}

// serviceButton returns the Stop or Start button of a service the
// dashboard controls (herald up), kept up to date by updateButton.
export function serviceButton(svc) {
  const btn = h("button", { type: "button" });
  btn.addEventListener("click", () => toggleService(btn));
  updateButton(btn, svc);
  return btn;
}

// updateButton makes btn stop a running service or start a stopped one,
// unless it is busy doing one of them.
export function updateButton(btn, svc) {
  if (btn.disabled) return;
  const running = svc.running !== false;
  btn.dataset.action = running ? "stop" : "start";
  btn.dataset.service = svc.name;
  btn.textContent = (running ? "Stop " : "Start ") + svc.name;
  btn.className = running ? "danger" : "primary";
}

async function toggleService(btn) {
  const token = operatorToken();
  if (!token) return;
  const { action, service } = btn.dataset;
  btn.disabled = true;
  btn.textContent = (action === "stop" ? "Stopping " : "Starting ") + service + "…";
  try {
    await api("POST", `/api/services/${encodeURIComponent(service)}/${action}`, undefined, { token });
    announce(`${service} ${action === "stop" ? "stopped" : "started"}`);
    hideAlert();
  } catch (e) {
    showError(e);
  } finally {
    btn.disabled = false;
    btn.textContent = (action === "stop" ? "Stop " : "Start ") + service;
  }
}
