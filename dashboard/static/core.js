// core.js: what every page shares. The DOM builders, the tokens kept in
// sessionStorage, the API client and its errors, the alert and the
// screen-reader announcements, the page hooks the router runs, and the
// formatting of times, durations and events.

const SVG = "http://www.w3.org/2000/svg";
export const $ = (sel, root) => (root || document).querySelector(sel);

// h builds an HTML element: h("a", {href: "#/"}, "text", child, ...).
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, kids);
  return el;
}
// s builds an SVG element.
export function s(tag, attrs, ...kids) {
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
export function fill(el, ...kids) {
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

// ---------- tokens, and the storefront's last steps ----------
export const store = {
  // step is what a storefront step left for the next (the last product's
  // id, the order's consistency token), kept across pages.
  get step() { try { return JSON.parse(sessionStorage.getItem("herald.step") || "{}"); } catch { return {}; } },
  set step(v) { sessionStorage.setItem("herald.step", JSON.stringify(v || {})); },
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
export async function api(method, path, body, opts) {
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
export function operatorToken() {
  const t = store.operator;
  if (!t) {
    showAlert("This action needs the operator token. Paste the token from herald-data/secrets/admin.token into “Sign in as operator” at the top of the page.");
    $("#operator-token").focus();
  }
  return t;
}

export function showAlert(msg) {
  const a = $("#alert");
  a.replaceChildren(h("span", {}, msg), h("button", { type: "button", class: "link", onclick: hideAlert, "aria-label": "Dismiss message" }, "Dismiss"));
  a.hidden = false;
}
export function hideAlert() { $("#alert").hidden = true; }
export function showError(e) {
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
export function announce(msg) {
  const a = $("#announce");
  a.textContent = "";
  setTimeout(() => { a.textContent = msg; }, 30);
}

// ---------- formatting ----------
export function fmtTime(t) {
  if (!t || t.startsWith("0001-")) return "";
  const d = new Date(t);
  if (isNaN(d)) return String(t);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}
export function fmtDateTime(t) {
  if (!t || t.startsWith("0001-")) return "";
  const d = new Date(t);
  if (isNaN(d)) return String(t);
  return d.toLocaleDateString() + " " + fmtTime(t);
}
export function fmtNanos(n) {
  if (n === undefined || n === null || n === 0) return "";
  return fmtMs(n / 1e6);
}
export function fmtMs(ms) {
  if (ms < 1) return ms.toFixed(2) + " ms";
  if (ms < 1000) return ms.toFixed(1) + " ms";
  return (ms / 1000).toFixed(2) + " s";
}
export function fmtRate(r) { return (r || 0) < 10 ? (r || 0).toFixed(1) : Math.round(r); }
export function fmtSecs(x) { x = x || 0; return x < 10 ? x.toFixed(1) + "s" : Math.round(x) + "s"; }
export function plural(n, one, many) { return n + " " + (n === 1 ? one : (many || one + "s")); }

// decodeEvent returns the CloudEvent stored as data: JSON, base64 JSON
// (a Go []byte), or already an object.
export function decodeEvent(data) {
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
export function eventIdOf(dl) {
  if (dl.id) return dl.id;
  const ev = decodeEvent(dl.event !== undefined ? dl.event : dl.data);
  if (ev && typeof ev === "object" && ev.id) return ev.id;
  return "";
}

export function badge(outcome) {
  return h("span", { class: "badge badge-" + String(outcome || "unknown").replace(/[^a-z-]/g, "") }, outcome || "unknown");
}

// ---------- page hooks ----------
let cleanups = [];
// onLeave registers f to run when the router leaves the current page.
export function onLeave(f) { cleanups.push(f); }
// leave runs the current page's onLeave functions, logging what throws,
// and forgets them; the router calls it before it draws the next page.
export function leave() {
  for (const f of cleanups) { try { f(); } catch (e) { console.error(e); } }
  cleanups = [];
}

// focusHeading moves the focus to main's h1 when it was in the nav, so
// that a keyboard or screen-reader user lands on the new page.
export function focusHeading(main) {
  const h1 = $("h1", main);
  if (h1 && document.activeElement && document.activeElement.closest && document.activeElement.closest("nav")) {
    h1.setAttribute("tabindex", "-1");
    h1.focus({ preventScroll: true });
  }
}

// ---------- operator state ----------
// showOperator shows in the header whether the operator is signed in.
export function showOperator() {
  const on = !!store.operator;
  $("#operator-state").textContent = on ? "Signed in as operator" : "Not signed in";
  $("#operator-state").classList.toggle("on", on);
  $("#operator-token").hidden = on;
  $("#operator-signin").hidden = on;
  $("#operator-signout").hidden = !on;
}
