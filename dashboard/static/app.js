// Herald dashboard: plain JavaScript as ES modules, no build step. Every
// page reads the dashboard's /api; the dashboard keeps no state of its own,
// and neither does this page beyond the operator's and the storefront
// user's tokens, kept in sessionStorage.
//
// app.js is the entry point: the router, the operator's sign-in form and
// the start. The pages live in their own modules (topology.js, events.js,
// dlq.js, try.js), the live topology in live.js, and what they share in
// core.js.

import { $, h, store, showAlert, hideAlert, showError, showOperator, announce, leave } from "./core.js";
import { startLive } from "./live.js";
import { pageTopology } from "./topology.js";
import { pageEvents, pageEvent } from "./events.js";
import { pageDLQ } from "./dlq.js";
import { pageShop, pageBlog } from "./try.js";

// ---------- router ----------
// route draws the page the location's hash names, after running the
// previous page's onLeave functions.
function route() {
  leave();
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

// ---------- operator sign in ----------
// init wires the operator's sign-in form, starts the live topology and
// draws the page the location names.
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
