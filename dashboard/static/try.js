// try.js: the storefront pages, "Try the shop" and "Try the blog". Each
// step is a form that calls one service through the dashboard's proxy and
// shows the call and its answer.

import { $, h, fill, store, api, operatorToken, announce, badge, onLeave, focusHeading } from "./core.js";
import { live, topology } from "./live.js";
import { stateOf, serviceButton, updateButton } from "./topology.js";

// servicesStrip shows app's services, live, each with its state and (in
// herald up) its Stop/Start button: stop one and try the steps again.
function servicesStrip(app) {
  const list = h("ul", { class: "strip-list" });
  const strip = h("section", { id: "services-strip", class: "strip", "aria-label": "The " + app + "'s services" },
    h("span", { class: "muted small" }, "Services:"), list);
  const draw = (t) => {
    const a = (t.apps || []).find((x) => x.name === app);
    if (!a) return;
    for (const svc of a.services || []) {
      let li = list.querySelector(`li[data-service="${CSS.escape(svc.name)}"]`);
      if (!li) {
        li = h("li", { "data-service": svc.name }, h("span", { class: "badge" }), " ");
        if (svc.controllable) li.append(serviceButton(svc));
        list.append(li);
      }
      const st = stateOf(svc);
      li.dataset.state = st;
      const b = li.querySelector(".badge");
      b.textContent = svc.name + " " + st;
      b.className = "badge " + (svc.up ? "badge-applied" : "badge-dead-lettered");
      const btn = li.querySelector("button");
      if (btn) updateButton(btn, svc);
    }
  };
  live.listeners.add(draw);
  onLeave(() => live.listeners.delete(draw));
  topology().then(draw).catch(() => {});
  return strip;
}

// ---------- the steps' forms ----------
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

// ---------- try it: shop ----------
export function pageShop(main) {
  const sess = h("p", { id: "user-state", class: "user-state", "aria-live": "polite" });
  const showSess = () => {
    const u = store.user;
    fill(sess, u ? ["Signed in as user ", h("strong", {}, String(u.userId)), u.email ? ` (${u.email})` : "", " ", h("button", { type: "button", class: "link", onclick: () => { store.user = null; showSess(); } }, "sign out")] : "Not signed in as a shop user.");
  };
  showSess();
  // The order's token and the product to order outlive a visit to another
  // page (stop a service on the topology, come back, ask the query).
  let lastToken = store.step.token || "";
  const remember = (k, v) => { store.step = Object.assign(store.step, { [k]: v }); };
  const stamp = Date.now().toString(36);

  const o1 = output("out-signup"), o2 = output("out-signin"), o3 = output("out-product"), o4 = output("out-order"), o5 = output("out-query");
  const signup = formOf("signup", [field("su-name", "Name", { value: "Ada", autocomplete: "name" }), field("su-email", "Email", { type: "email", value: `ada+${stamp}@example.com`, autocomplete: "email" }), field("su-password", "Password (10+ characters)", { type: "password", value: "correct-horse", minlength: 10, autocomplete: "new-password" })], "Sign up",
    async (fd) => {
      const path = "/api/proxy/users/users";
      try {
        const r = await api("POST", path, { name: fd.get("su-name"), email: fd.get("su-email"), password: fd.get("su-password") });
        remember("userToken", r.headers.get("Herald-Token") || "");
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
        remember("productToken", r.headers.get("Herald-Token") || "");
        showCall(o3, "POST", path, r);
        if (r.data && r.data.id) { $("#or-product").value = r.data.id; remember("productId", r.data.id); }
      } catch (e) { showFail(o3, "POST", path, e); }
    });
  const order = formOf("order", [field("or-product", "Product id", { type: "number", min: 1, inputmode: "numeric", value: store.step.productId || null })], "Order it",
    async (fd) => {
      const path = "/api/proxy/orders/orders";
      const u = store.user;
      if (!u) { o4.replaceChildren(h("p", { class: "error" }, "Sign in as a shop user first (step 2).")); return; }
      try {
        // Orders learns of the user and the product from their events: the
        // tokens of those writes make it wait for them, not refuse.
        const after = [store.step.userToken, store.step.productToken].filter(Boolean).join(",");
        const headers = after ? { "Herald-After": after, "Herald-Wait": "5s" } : {};
        const r = await api("POST", path, { userId: u.userId, productId: Number(fd.get("or-product")) }, { token: u.token, headers });
        lastToken = r.headers.get("Herald-Token") || "";
        remember("token", lastToken);
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
    h("p", { class: "lead" }, "Each step calls one service through the dashboard. The order's answer carries a consistency token; the query service, which has its own database, answers with it once it has applied the order. Stop a service below (or on the ", h("a", { href: "#/" }, "topology"), ") and the query still answers; start it and it catches up."),
    servicesStrip("shop"),
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
export function pageBlog(main) {
  const o1 = output("out-post"), o2 = output("out-comment");
  let postToken = "";
  const token = () => (store.user && store.user.token) || store.operator || "";
  const post = formOf("post", [field("po-title", "Title", { value: "Hello, Herald" })], "Create post",
    async (fd) => {
      const path = "/api/proxy/posts/posts";
      try {
        const r = await api("POST", path, { title: fd.get("po-title") }, { token: token() });
        postToken = r.headers.get("Herald-Token") || "";
        showCall(o1, "POST", path, r);
        if (r.data && r.data.id) $("#co-post").value = r.data.id;
      } catch (e) { showFail(o1, "POST", path, e); }
    });
  const comment = formOf("comment", [field("co-post", "Post id", { spellcheck: "false" }), field("co-content", "Comment", { value: "I like orange" })], "Comment",
    async (fd) => {
      const path = `/api/proxy/comments/posts/${encodeURIComponent(fd.get("co-post").trim())}/comments`;
      try {
        // Comments learns of the post from its event: the post's token
        // makes it wait for it, not answer 404.
        const headers = postToken ? { "Herald-After": postToken, "Herald-Wait": "5s" } : {};
        const r = await api("POST", path, { content: fd.get("co-content") }, { token: token(), headers });
        showCall(o2, "POST", path, r);
      } catch (e) { showFail(o2, "POST", path, e); }
    });
  const view = h("div", { id: "blog-view" }, h("p", { class: "loading" }, "Loading posts…"));
  const viewState = h("p", { class: "muted small", id: "blog-view-state" });
  main.append(h("h1", {}, "Try the blog"),
    h("p", { class: "lead" }, "Comments start pending. The moderation service reads each comment event, decides (it rejects comments that mention “orange”), and publishes its decision; the blog's query service applies it. The list below is the query's answer, read every second."),
    servicesStrip("blog"),
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
