// Herald dashboard: plain JavaScript, no build step. Every page reads the
// dashboard's /api; the dashboard keeps no state of its own, and neither
// does this page beyond the operator's and the storefront user's tokens,
// kept in sessionStorage.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (sel, root) => (root || document).querySelector(sel);

  // h builds an HTML element: h("a", {href: "#/"}, "text", child, ...).
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    append(el, kids);
    return el;
  }
  // s builds an SVG element.
  function s(tag, attrs, ...kids) {
    const el = document.createElementNS(SVG, tag);
    setAttrs(el, attrs);
    append(el, kids);
    return el;
  }
  function setAttrs(el, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "text") el.textContent = v;
      else if (k === "value" && "value" in el && el.namespaceURI !== SVG) el.value = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  // fill replaces el's children with kids, skipping null and false.
  function fill(el, ...kids) {
    el.replaceChildren();
    append(el, kids);
    return el;
  }
  function append(el, kids) {
    for (const k of kids.flat(Infinity)) {
      if (k === null || k === undefined || k === false) continue;
      el.append(k instanceof Node ? k : String(k));
    }
  }

  // ---------- tokens ----------
  const store = {
    get operator() { return sessionStorage.getItem("herald.operator") || ""; },
    set operator(v) { v ? sessionStorage.setItem("herald.operator", v) : sessionStorage.removeItem("herald.operator"); },
    get user() { try { return JSON.parse(sessionStorage.getItem("herald.user") || "null"); } catch { return null; } },
    set user(v) { v ? sessionStorage.setItem("herald.user", JSON.stringify(v)) : sessionStorage.removeItem("herald.user"); },
  };

  // ---------- API ----------
  class APIError extends Error {
    constructor(status, problem, path) {
      const p = problem && typeof problem === "object" ? problem : {};
      let msg = p.detail || p.title || (typeof problem === "string" && problem) || ("HTTP " + status);
      if (status === 401) msg = "Not signed in, or the token was refused (401): " + msg;
      if (status === 403) msg = "Not allowed (403): " + msg;
      super(msg);
      this.status = status;
      this.problem = p;
      this.path = path;
    }
  }

  // api calls the dashboard's API. opts.token is sent as a Bearer token;
  // opts.headers are added. It resolves to {status, data, headers} and
  // rejects with an APIError for any status >= 400.
  async function api(method, path, body, opts) {
    opts = opts || {};
    const headers = Object.assign({ Accept: "application/json" }, opts.headers || {});
    if (opts.token) headers.Authorization = "Bearer " + opts.token;
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new APIError(0, { title: "The dashboard did not answer (" + e.message + ")" }, path);
    }
    const text = await res.text();
    let data = text;
    try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    if (res.status >= 400) throw new APIError(res.status, data, path);
    return { status: res.status, data, headers: res.headers };
  }

  // operatorToken returns the operator's token, or shows why an action
  // cannot run and returns "".
  function operatorToken() {
    const t = store.operator;
    if (!t) {
      showAlert("This action needs the operator token. Paste the token from herald-data/secrets/admin.token into “Sign in as operator” at the top of the page.");
      $("#operator-token").focus();
    }
    return t;
  }

  function showAlert(msg) {
    const a = $("#alert");
    a.replaceChildren(h("span", {}, msg), h("button", { type: "button", class: "link", onclick: hideAlert, "aria-label": "Dismiss message" }, "Dismiss"));
    a.hidden = false;
  }
  function hideAlert() { $("#alert").hidden = true; }
  function showError(e) {
    if (e instanceof APIError && e.status === 401 && e.path && !e.path.startsWith("/api/proxy/")) {
      store.operator = "";
      showOperator();
      showAlert(e.message + " — the operator token was not accepted, so you are signed out: paste the contents of herald-data/secrets/admin.token and sign in again.");
    } else if (e instanceof APIError && e.status === 403 && e.path && !e.path.startsWith("/api/proxy/")) {
      showAlert(e.message + " — this action needs the operator (admin) token from herald-data/secrets/admin.token, not a user's token.");
    } else if (e instanceof APIError && (e.status === 401 || e.status === 403)) {
      showAlert(e.message + " — sign in (users) or as operator for this step.");
    } else {
      showAlert(e.message || String(e));
    }
  }
  function announce(msg) {
    const a = $("#announce");
    a.textContent = "";
    setTimeout(() => { a.textContent = msg; }, 30);
  }

  // ---------- formatting ----------
  function fmtTime(t) {
    if (!t || t.startsWith("0001-")) return "";
    const d = new Date(t);
    if (isNaN(d)) return String(t);
    return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
  }
  function fmtDateTime(t) {
    if (!t || t.startsWith("0001-")) return "";
    const d = new Date(t);
    if (isNaN(d)) return String(t);
    return d.toLocaleDateString() + " " + fmtTime(t);
  }
  function fmtNanos(n) {
    if (n === undefined || n === null || n === 0) return "";
    return fmtMs(n / 1e6);
  }
  function fmtMs(ms) {
    if (ms < 1) return ms.toFixed(2) + " ms";
    if (ms < 1000) return ms.toFixed(1) + " ms";
    return (ms / 1000).toFixed(2) + " s";
  }
  function fmtRate(r) { return (r || 0) < 10 ? (r || 0).toFixed(1) : Math.round(r); }
  function fmtSecs(x) { x = x || 0; return x < 10 ? x.toFixed(1) + "s" : Math.round(x) + "s"; }
  function plural(n, one, many) { return n + " " + (n === 1 ? one : (many || one + "s")); }

  // decodeEvent returns the CloudEvent stored as data: JSON, base64 JSON
  // (a Go []byte), or already an object.
  function decodeEvent(data) {
    if (data === null || data === undefined) return null;
    if (typeof data === "object") return data;
    try { return JSON.parse(data); } catch { /* not JSON text */ }
    try {
      const bin = atob(data);
      const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
      const text = new TextDecoder().decode(bytes);
      try { return JSON.parse(text); } catch { return text; }
    } catch { return data; }
  }
  function eventIdOf(dl) {
    if (dl.id) return dl.id;
    const ev = decodeEvent(dl.event !== undefined ? dl.event : dl.data);
    if (ev && typeof ev === "object" && ev.id) return ev.id;
    return "";
  }

  function badge(outcome) {
    return h("span", { class: "badge badge-" + String(outcome || "unknown").replace(/[^a-z-]/g, "") }, outcome || "unknown");
  }

  // ---------- live topology ----------
  const live = { topology: null, listeners: new Set(), lastUp: new Map(), source: null };

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

  function startLive() {
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

  async function topology() {
    if (live.topology) return live.topology;
    const r = await api("GET", "/api/topology");
    if (!live.topology) onTopology(r.data);
    return live.topology;
  }

  // ---------- router ----------
  let cleanups = [];
  function onLeave(f) { cleanups.push(f); }

  function route() {
    for (const f of cleanups) { try { f(); } catch (e) { console.error(e); } }
    cleanups = [];
    hideAlert();
    const hash = location.hash.replace(/^#/, "") || "/";
    const parts = hash.split("/").filter(Boolean);
    const main = $("#main");
    main.replaceChildren();
    let name = parts[0] || "topology";
    const pages = { topology: pageTopology, events: pageEvents, event: pageEvent, dlq: pageDLQ, shop: pageShop, blog: pageBlog };
    if (!pages[name]) name = "notfound";
    for (const a of document.querySelectorAll("nav a")) {
      const r = a.dataset.route;
      const current = r === name || (name === "event" && r === "events");
      if (current) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    if (name === "notfound") {
      main.append(h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "#/" }, "Back to the topology")));
      return;
    }
    const title = { topology: "Topology", events: "Events", event: "Event", dlq: "Dead letters", shop: "Try the shop", blog: "Try the blog" }[name];
    document.title = title + " · Herald";
    Promise.resolve(pages[name](main, parts.slice(1).map(decodeURIComponent))).catch(showError);
  }

  function focusHeading(main) {
    const h1 = $("h1", main);
    if (h1 && document.activeElement && document.activeElement.closest && document.activeElement.closest("nav")) {
      h1.setAttribute("tabindex", "-1");
      h1.focus({ preventScroll: true });
    }
  }

  // ---------- topology page ----------
  function pageTopology(main) {
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
          svg.append(s("line", { x1: streamEdge, y1: ay, x2: boxEdge, y2: ay, class: "edge consume" + (svc.up ? "" : " stalled"), "marker-end": marker },
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
  function stateOf(svc) {
    if (svc.up) return "up";
    return svc.controllable && svc.running === false ? "stopped" : "down";
  }
  function clip(text, max) { return text.length > max ? text.slice(0, max - 1) + "…" : text; }

  function serviceBox(svc, x, y, w, bh, narrow) {
    const cls = "svc " + (svc.up ? "up" : "down");
    const g = s("g", { class: cls, "data-service": svc.name });
    g.append(s("rect", { x, y, width: w, height: bh, rx: 8 }));
    g.append(s("text", { x: x + 12, y: y + 20, class: "svc-name" }, svc.name));
    g.append(s("text", { x: x + w - 12, y: y + 20, class: "svc-state", "text-anchor": "end" }, { up: "● up", stopped: "■ stopped", down: "✕ down" }[stateOf(svc)]));
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
      t.append(s("title", {}, `${c.durable}: ${fmtRate(c.eventsPerSecond)} events/s, ${fmtSecs(c.lagSeconds)} behind, ${c.pending || 0} pending, ${c.ackPending || 0} in progress, ${c.deadLettered || 0} dead-lettered`));
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
        h("tbody", {}, svc.consumes.map((c) => h("tr", {},
          h("th", { scope: "row", title: c.error || null }, c.durable, c.error ? " ⚠" : ""),
          h("td", {}, fmtRate(c.eventsPerSecond)),
          h("td", {}, fmtSecs(c.lagSeconds)),
          h("td", {}, String(c.pending || 0)),
          h("td", {}, c.deadLettered ? h("a", { href: "#/dlq", class: "dlq-bad" }, String(c.deadLettered)) : "0"))))) : null;
      $(".facts", card).replaceChildren(facts, cons || "");
      const actions = $(".card-actions", card);
      if (svc.controllable) {
        let btn = $("button", actions);
        if (!btn) {
          btn = h("button", { type: "button", onclick: () => toggleService(btn) });
          actions.append(btn);
        }
        if (!btn.disabled) {
          const running = svc.running !== false;
          btn.dataset.action = running ? "stop" : "start";
          btn.dataset.service = svc.name;
          btn.textContent = (running ? "Stop " : "Start ") + svc.name;
          btn.className = running ? "danger" : "primary";
        }
      } else {
        actions.replaceChildren();
      }
    }
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

  // ---------- events page ----------
  const evState = { stream: "", type: "", subject: "", entity: "", since: "", before: "", pages: [] };

  async function pageEvents(main) {
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
  async function pageEvent(main, args) {
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
          c.attempt ? h("div", { class: "small" }, "attempt " + c.attempt) : null,
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

  // ---------- DLQ page ----------
  async function pageDLQ(main) {
    const result = h("div", { id: "dlq-result", "aria-live": "polite" });
    const list = h("div", { id: "dlq-list" }, h("p", { class: "loading" }, "Loading dead letters…"));
    const count = h("span", { id: "dlq-count", class: "muted" }, "none selected");
    const redrive = h("button", { type: "button", id: "dlq-redrive", class: "primary", disabled: true }, "Redrive selected");
    const discard = h("button", { type: "button", id: "dlq-discard", class: "danger", disabled: true }, "Discard selected");
    main.append(h("h1", {}, "Dead letters"),
      h("p", { class: "lead" }, "Events a consumer failed on every attempt. Redrive gives them back to the consumer, which tries again; discard deletes them. Both need the operator token."),
      h("div", { class: "toolbar", role: "group", "aria-label": "Dead letter actions" }, redrive, discard, count),
      result, list);
    focusHeading(main);
    let letters = [];
    const selected = () => letters.filter((d) => $(`input[data-seq="${d.seq}"]`, list)?.checked);
    const update = () => {
      const n = selected().length;
      count.textContent = n ? plural(n, "event") + " selected" : "none selected";
      redrive.disabled = discard.disabled = !n;
    };
    async function load() {
      try {
        const r = await api("GET", "/api/dlq");
        letters = (r.data && r.data.deadLetters) || [];
      } catch (e) {
        list.replaceChildren(h("p", { class: "error" }, e.message));
        return;
      }
      const groups = new Map();
      for (const d of letters) { if (!groups.has(d.consumer)) groups.set(d.consumer, []); groups.get(d.consumer).push(d); }
      if (!letters.length) { list.replaceChildren(h("p", { class: "empty" }, "No dead letters. Every consumer has settled everything it was given.")); update(); return; }
      list.replaceChildren(...[...groups].map(([consumer, ds]) => {
        const gid = "dlq-" + consumer.replace(/[^A-Za-z0-9_-]/g, "_");
        const all = h("input", { type: "checkbox", id: gid + "-all", "aria-label": "Select all of " + consumer,
          onchange: (e) => { for (const c of list.querySelectorAll(`input[data-consumer="${CSS.escape(consumer)}"]`)) c.checked = e.target.checked; update(); } });
        return h("section", { class: "dlq-group", "aria-labelledby": gid + "-h" },
          h("h2", { id: gid + "-h" }, consumer, " ", h("span", { class: "muted" }, `· ${ds[0].stream || ""} · ${plural(ds.length, "event")}`)),
          h("div", { class: "table-wrap" }, h("table", { class: "dlq" },
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, all), ["DLQ seq", "Subject", "Error", "Attempts", "Failed at", "Event"].map((c) => h("th", { scope: "col" }, c)))),
            h("tbody", {}, ds.map((d) => {
              const evid = eventIdOf(d);
              const cid = `dl-${d.seq}`;
              return h("tr", {},
                h("td", {}, h("input", { type: "checkbox", id: cid, "data-seq": d.seq, "data-consumer": consumer, onchange: update }),
                  h("label", { for: cid, class: "visually-hidden" }, `Select dead letter ${d.seq} of ${consumer}`)),
                h("td", { class: "num", "data-label": "DLQ seq" }, String(d.seq)),
                h("td", { class: "mono wrap", "data-label": "Subject" }, d.subject),
                h("td", { class: "error wrap", "data-label": "Error" }, d.error),
                h("td", { class: "num", "data-label": "Attempts" }, String(d.attempts ?? "")),
                h("td", { class: "nowrap", "data-label": "Failed at" }, fmtDateTime(d.failedAt)),
                h("td", { "data-label": "Event" }, evid ? h("a", { href: "#/event/" + encodeURIComponent(evid) }, "journey") : ""));
            })))));
      }));
      update();
    }
    async function act(kind) {
      const ds = selected();
      if (!ds.length) return;
      const token = operatorToken();
      if (!token) return;
      const by = new Map();
      for (const d of ds) by.set(d.consumer, (by.get(d.consumer) || 0) + 1);
      const n = ds.length;
      let text;
      if (kind === "redrive") {
        const parts = [...by].map(([c, k]) => `${plural(k, "event")} back to ${c}`);
        text = `Give ${parts.join(" and ")}. ${n === 1 ? "It is" : "Each is"} delivered to its consumer again and leaves the dead letters.`;
      } else if (by.size === 1) {
        text = `Delete ${plural(n, "event")} for good. ${[...by.keys()][0]} will never get ${n === 1 ? "it" : "them"} again; this cannot be undone.`;
      } else {
        text = `Delete ${plural(n, "event")} for good (${[...by].map(([c, k]) => `${k} of ${c}`).join(", ")}). They will never be delivered again; this cannot be undone.`;
      }
      const ok = await confirmDialog(kind === "redrive" ? "Redrive dead letters" : "Discard dead letters", text, kind === "redrive" ? "Redrive" : "Delete for good", kind === "discard");
      if (!ok) return;
      try {
        const r = await api("POST", "/api/dlq/" + kind, { seqs: ds.map((d) => d.seq) }, { token });
        showResult(kind, ds, r.data || {});
      } catch (e) {
        showError(e);
      }
      await load();
    }
    function showResult(kind, ds, res) {
      const asList = (x) => Array.isArray(x) ? x : (typeof x === "number" ? null : (x && typeof x === "object" ? Object.entries(x).map(([k, v]) => ({ seq: k, error: v })) : []));
      const done = asList(res.done), failed = asList(res.failed);
      const nDone = done ? done.length : res.done;
      const nFailed = failed ? failed.length : res.failed;
      const bySeq = new Map(ds.map((d) => [String(d.seq), d]));
      const failedSeqs = new Set((failed || []).map((f) => String(typeof f === "object" ? f.seq : f)));
      const link = (d) => { const id = eventIdOf(d); return h("li", {}, `#${d.seq} ${d.subject || ""} `, id ? h("a", { href: "#/event/" + encodeURIComponent(id) }, "see its journey") : ""); };
      fill(result, h("div", { class: "result " + (nFailed ? "partial" : "ok") },
        h("p", {}, h("strong", {}, kind === "redrive" ? `Gave ${plural(nDone || 0, "event")} back to ${[...new Set(ds.map((d) => d.consumer))].join(" and ")}.` : `Deleted ${plural(nDone || 0, "event")} for good.`),
          nFailed ? ` ${nFailed} failed.` : "", kind === "redrive" ? " Each journey shows whether the consumer has applied it now." : ""),
        h("ul", {}, ds.filter((d) => !failedSeqs.has(String(d.seq))).map(link)),
        (failed || []).length ? h("ul", { class: "error" }, failed.map((f) => h("li", {}, typeof f === "object" ? `#${f.seq}: ${f.error || f.detail || "failed"}` : `#${f} failed`))) : null,
        bySeq.size ? null : null));
      result.querySelector("a")?.focus();
    }
    redrive.addEventListener("click", () => act("redrive"));
    discard.addEventListener("click", () => act("discard"));
    await load();
  }

  // confirmDialog asks in the <dialog> and resolves true on confirm.
  function confirmDialog(title, text, okLabel, danger) {
    const d = $("#confirm");
    $("#confirm-title").textContent = title;
    $("#confirm-text").textContent = text;
    const ok = $("#confirm-ok");
    ok.textContent = okLabel;
    ok.className = danger ? "danger" : "primary";
    return new Promise((resolve) => {
      d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
      d.returnValue = "";
      d.showModal();
      $("#confirm-cancel").focus();
    });
  }

  // ---------- try it: shop ----------
  function field(id, label, attrs) {
    return h("div", { class: "field" }, h("label", { for: id }, label), h("input", Object.assign({ id, name: id, required: true }, attrs || {})));
  }
  function stepCard(num, title, help, form, out) {
    return h("section", { class: "step-card", "aria-labelledby": "step-" + num },
      h("h2", { id: "step-" + num }, h("span", { class: "num", "aria-hidden": "true" }, num), " ", title),
      help ? h("p", { class: "muted" }, help) : null, form, out);
  }
  function output(id) { return h("div", { id, class: "out", role: "status", "aria-live": "polite" }); }
  function showCall(out, method, path, r, extra) {
    fill(out, 
      h("p", { class: "call" }, h("code", {}, `${method} ${path.replace("/api/proxy", "")}`), " → ", h("strong", {}, String(r.status))),
      extra || null,
      r.data !== null && r.data !== "" ? h("pre", { class: "json small" }, typeof r.data === "string" ? r.data : JSON.stringify(r.data, null, 2)) : null);
  }
  function showFail(out, method, path, e) {
    out.replaceChildren(h("p", { class: "call error" }, h("code", {}, `${method} ${path.replace("/api/proxy", "")}`), " → ", h("strong", {}, String(e.status || "failed")), " ", e.message));
  }
  function formOf(id, fields, button, onsubmit) {
    const f = h("form", { id, class: "step-form" }, fields, h("div", { class: "field buttons" }, h("button", { type: "submit", class: "primary" }, button)));
    f.addEventListener("submit", async (e) => {
      e.preventDefault();
      const b = $("button[type=submit]", f);
      b.disabled = true;
      try { await onsubmit(new FormData(f)); } finally { b.disabled = false; }
    });
    return f;
  }

  function pageShop(main) {
    const sess = h("p", { id: "user-state", class: "user-state", "aria-live": "polite" });
    const showSess = () => {
      const u = store.user;
      fill(sess, u ? ["Signed in as user ", h("strong", {}, String(u.userId)), u.email ? ` (${u.email})` : "", " ", h("button", { type: "button", class: "link", onclick: () => { store.user = null; showSess(); } }, "sign out")] : "Not signed in as a shop user.");
    };
    showSess();
    let lastToken = "";
    const stamp = Date.now().toString(36);

    const o1 = output("out-signup"), o2 = output("out-signin"), o3 = output("out-product"), o4 = output("out-order"), o5 = output("out-query");
    const signup = formOf("signup", [field("su-name", "Name", { value: "Ada", autocomplete: "name" }), field("su-email", "Email", { type: "email", value: `ada+${stamp}@example.com`, autocomplete: "email" }), field("su-password", "Password (10+ characters)", { type: "password", value: "correct-horse", minlength: 10, autocomplete: "new-password" })], "Sign up",
      async (fd) => {
        const path = "/api/proxy/users/users";
        try {
          const r = await api("POST", path, { name: fd.get("su-name"), email: fd.get("su-email"), password: fd.get("su-password") });
          showCall(o1, "POST", path, r);
          $("#si-email").value = fd.get("su-email");
          $("#si-password").value = fd.get("su-password");
        } catch (e) { showFail(o1, "POST", path, e); }
      });
    const signin = formOf("signin", [field("si-email", "Email", { type: "email", autocomplete: "username" }), field("si-password", "Password", { type: "password", autocomplete: "current-password" })], "Sign in",
      async (fd) => {
        const path = "/api/proxy/users/sessions";
        try {
          const r = await api("POST", path, { email: fd.get("si-email"), password: fd.get("si-password") });
          store.user = { token: r.data.token, userId: r.data.userId, email: fd.get("si-email") };
          showSess();
          const shown = Object.assign({}, r.data, { token: String(r.data.token || "").slice(0, 16) + "…" });
          showCall(o2, "POST", path, Object.assign({}, r, { data: shown }), h("p", {}, "Kept the user's token for the next steps."));
        } catch (e) { showFail(o2, "POST", path, e); }
      });
    const product = formOf("product", [field("pr-title", "Title", { value: "Blue teapot" }), field("pr-image", "Image", { value: "teapot.jpg" })], "Add product",
      async (fd) => {
        const path = "/api/proxy/products/products";
        const token = operatorToken();
        if (!token) { o3.replaceChildren(h("p", { class: "error" }, "Adding a product needs the operator token (sign in as operator at the top).")); return; }
        try {
          const r = await api("POST", path, { title: fd.get("pr-title"), image: fd.get("pr-image") }, { token });
          showCall(o3, "POST", path, r);
          if (r.data && r.data.id) $("#or-product").value = r.data.id;
        } catch (e) { showFail(o3, "POST", path, e); }
      });
    const order = formOf("order", [field("or-product", "Product id", { type: "number", min: 1, inputmode: "numeric" })], "Order it",
      async (fd) => {
        const path = "/api/proxy/orders/orders";
        const u = store.user;
        if (!u) { o4.replaceChildren(h("p", { class: "error" }, "Sign in as a shop user first (step 2).")); return; }
        try {
          const r = await api("POST", path, { userId: u.userId, productId: Number(fd.get("or-product")) }, { token: u.token });
          lastToken = r.headers.get("Herald-Token") || "";
          const evid = (r.headers.get("Herald-Event-Id") || "").split(",")[0].trim();
          showCall(o4, "POST", path, r, h("dl", { class: "headers" },
            h("dt", {}, "Herald-Token"), h("dd", {}, h("code", { id: "herald-token" }, lastToken || "(none)")),
            evid ? [h("dt", {}, "Herald-Event-Id"), h("dd", {}, h("a", { href: "#/event/" + encodeURIComponent(evid) }, evid), " — follow its journey")] : null));
        } catch (e) { showFail(o4, "POST", path, e); }
      });
    const query = formOf("query", [h("div", { class: "field check" }, h("input", { type: "checkbox", id: "q-after", checked: true }), h("label", { for: "q-after" }, "Send Herald-After with the order's token (wait until the query has applied it)"))], "Ask the query",
      async () => {
        const u = store.user;
        if (!u) { o5.replaceChildren(h("p", { class: "error" }, "Sign in as a shop user first (step 2).")); return; }
        const path = `/api/proxy/query/users/${encodeURIComponent(u.userId)}/products`;
        const headers = {};
        if ($("#q-after").checked && lastToken) { headers["Herald-After"] = lastToken; headers["Herald-Wait"] = "2s"; }
        try {
          const r = await api("GET", path, undefined, { token: u.token, headers });
          const c = r.headers.get("Herald-Consistency") || "(not asked)";
          showCall(o5, "GET", path, r, h("dl", { class: "headers" },
            h("dt", {}, "Herald-After"), h("dd", {}, h("code", {}, headers["Herald-After"] || "(none)")),
            h("dt", {}, "Herald-Consistency"), h("dd", {}, h("span", { id: "consistency", class: "badge " + (c === "fresh" ? "badge-applied" : c === "stale" ? "badge-retrying" : "") }, c))));
        } catch (e) { showFail(o5, "GET", path, e); }
      });
    main.append(h("h1", {}, "Try the shop"),
      h("p", { class: "lead" }, "Each step calls one service through the dashboard. The order's answer carries a consistency token; the query service, which has its own database, answers with it once it has applied the order. Stop a service on the ", h("a", { href: "#/" }, "topology"), " and the query still answers."),
      sess,
      h("div", { class: "steps" },
        stepCard(1, "Sign up", "users: POST /users", signup, o1),
        stepCard(2, "Sign in", "users: POST /sessions — keeps the user's token", signin, o2),
        stepCard(3, "Add a product", "products: POST /products — needs the operator token", product, o3),
        stepCard(4, "Order it", "orders: POST /orders with the user's token", order, o4),
        stepCard(5, "See the query's answer", "query: GET /users/{id}/products — answered from its own read model", query, o5)));
    focusHeading(main);
  }

  // ---------- try it: blog ----------
  function pageBlog(main) {
    const o1 = output("out-post"), o2 = output("out-comment");
    const token = () => (store.user && store.user.token) || store.operator || "";
    const post = formOf("post", [field("po-title", "Title", { value: "Hello, Herald" })], "Create post",
      async (fd) => {
        const path = "/api/proxy/posts/posts";
        try {
          const r = await api("POST", path, { title: fd.get("po-title") }, { token: token() });
          showCall(o1, "POST", path, r);
          if (r.data && r.data.id) $("#co-post").value = r.data.id;
        } catch (e) { showFail(o1, "POST", path, e); }
      });
    const comment = formOf("comment", [field("co-post", "Post id", { spellcheck: "false" }), field("co-content", "Comment", { value: "I like orange" })], "Comment",
      async (fd) => {
        const path = `/api/proxy/comments/posts/${encodeURIComponent(fd.get("co-post").trim())}/comments`;
        try {
          const r = await api("POST", path, { content: fd.get("co-content") }, { token: token() });
          showCall(o2, "POST", path, r);
        } catch (e) { showFail(o2, "POST", path, e); }
      });
    const view = h("div", { id: "blog-view" }, h("p", { class: "loading" }, "Loading posts…"));
    const viewState = h("p", { class: "muted small", id: "blog-view-state" });
    main.append(h("h1", {}, "Try the blog"),
      h("p", { class: "lead" }, "Comments start pending. The moderation service reads each comment event, decides (it rejects comments that mention “orange”), and publishes its decision; the blog's query service applies it. The list below is the query's answer, read every second."),
      h("div", { class: "blog-grid" },
        h("div", { class: "steps" },
          stepCard(1, "Create a post", "posts: POST /posts", post, o1),
          stepCard(2, "Comment on it", "comments: POST /posts/{id}/comments — try one with “orange” and one without", comment, o2)),
        h("section", { "aria-labelledby": "bv-h", class: "blog-live" }, h("h2", { id: "bv-h" }, "What the blog query answers"), viewState, view)));
    focusHeading(main);
    const statuses = new Map();
    let timer = 0, stopped = false;
    onLeave(() => { stopped = true; clearTimeout(timer); });
    async function load() {
      const path = "/api/proxy/blog-query/posts";
      try {
        const r = await api("GET", path, undefined, { token: token() });
        // The blog query answers {postId: post}; ids are UUIDv7, so the
        // newest sorts last.
        let posts = Array.isArray(r.data) ? r.data : (r.data && typeof r.data === "object" ? Object.entries(r.data).map(([id, p]) => Object.assign({ id }, p)) : []);
        posts = posts.slice().sort((a, b) => String(b.id).localeCompare(String(a.id)));
        const changes = [];
        for (const p of posts) for (const c of p.comments || []) {
          const was = statuses.get(c.id);
          if (was && was !== c.status) changes.push(`Comment “${c.content}” is now ${c.status}`);
          statuses.set(c.id, c.status);
        }
        if (changes.length) announce(changes.join(". "));
        viewState.textContent = `GET /blog-query/posts → ${r.status} at ${new Date().toLocaleTimeString([], { hour12: false })}`;
        if (!posts.length) view.replaceChildren(h("p", {}, "No posts yet."));
        else view.replaceChildren(h("ul", { class: "posts" }, posts.slice(0, 50).map((p) => h("li", { class: "post", "data-post": p.id },
          h("div", { class: "post-title" }, h("strong", {}, p.title), " ", h("code", { class: "small muted" }, p.id)),
          (p.comments || []).length ? h("ul", { class: "comments" }, p.comments.map((c) => h("li", { "data-comment": c.id, "data-status": c.status }, badge(c.status === "approved" ? "approved" : c.status === "rejected" ? "rejected" : "pending"), " ", c.content))) : h("p", { class: "muted small" }, "No comments.")))));
      } catch (e) {
        viewState.textContent = `GET /blog-query/posts failed: ${e.message} — retrying`;
      }
      if (!stopped) timer = setTimeout(load, 1000);
    }
    load();
  }

  // ---------- operator sign in ----------
  function showOperator() {
    const on = !!store.operator;
    $("#operator-state").textContent = on ? "Signed in as operator" : "Not signed in";
    $("#operator-state").classList.toggle("on", on);
    $("#operator-token").hidden = on;
    $("#operator-signin").hidden = on;
    $("#operator-signout").hidden = !on;
  }

  function init() {
    $("#operator").addEventListener("submit", (e) => {
      e.preventDefault();
      const v = $("#operator-token").value.trim();
      if (!v) { showAlert("Paste the operator token (the contents of herald-data/secrets/admin.token) first."); $("#operator-token").focus(); return; }
      store.operator = v;
      $("#operator-token").value = "";
      showOperator();
      hideAlert();
      announce("Signed in as operator");
      $("#operator-signout").focus();
    });
    $("#operator-signout").addEventListener("click", () => {
      store.operator = "";
      showOperator();
      announce("Signed out");
      $("#operator-token").focus();
    });
    showOperator();
    window.addEventListener("hashchange", route);
    startLive();
    route();
  }

  init();
})();
