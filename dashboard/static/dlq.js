// dlq.js: the dead letters page. The DLQ grouped by consumer, filtered by
// consumer, type and when they failed; the operator redrives (at most a
// max, oldest first) or discards the selected letters. A redrive's
// confirmation shows the backend's dry run: what goes back to which
// consumer, and what is left because its service has applied it since.

import { $, h, fill, api, operatorToken, showError, fmtDateTime, plural, eventIdOf, focusHeading } from "./core.js";

// The filters, kept while the operator moves between pages.
const dlqState = { consumer: "", type: "", since: "", until: "", max: "" };

export async function pageDLQ(main) {
  const result = h("div", { id: "dlq-result", "aria-live": "polite" });
  const list = h("div", { id: "dlq-list" }, h("p", { class: "loading" }, "Loading dead letters…"));
  const count = h("span", { id: "dlq-count", class: "muted" }, "none selected");
  const redrive = h("button", { type: "button", id: "dlq-redrive", class: "primary", disabled: true }, "Redrive selected");
  const discard = h("button", { type: "button", id: "dlq-discard", class: "danger", disabled: true }, "Discard selected");
  const upcast = h("input", { id: "dlq-upcast", type: "checkbox" });
  const max = h("input", { id: "dlq-max", type: "number", min: 1, max: 500, step: 1, inputmode: "numeric", value: dlqState.max, placeholder: "all", class: "narrow" });
  const seen = { consumer: new Set(), type: new Set() }; // for the filters' suggestions
  const lists = { consumer: h("datalist", { id: "dlq-consumers" }), type: h("datalist", { id: "dlq-types" }) };
  const field = (name, label, placeholder) => h("div", { class: "field" }, h("label", { for: "dlq-f-" + name }, label),
    h("input", { id: "dlq-f-" + name, name, value: dlqState[name], placeholder, list: lists[name] ? lists[name].id : null, spellcheck: "false" }));
  const form = h("form", { class: "filters dlq-filters", id: "dlq-filters", "aria-label": "Filter dead letters" },
    field("consumer", "Consumer", "shop-query"), field("type", "Event type", "shop.product.created.v1"),
    field("since", "Failed since", "2h, or 2025-06-01T12:00:00Z"), field("until", "Failed until", "30m, or a time"),
    h("div", { class: "field buttons" }, h("button", { type: "submit", class: "primary", id: "dlq-filter" }, "Show"),
      h("button", { type: "button", id: "dlq-clear", onclick: () => { for (const k of ["consumer", "type", "since", "until"]) { dlqState[k] = ""; form.elements[k].value = ""; } load(); } }, "Clear")),
    lists.consumer, lists.type);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    for (const k of ["consumer", "type", "since", "until"]) dlqState[k] = form.elements[k].value.trim();
    load();
  });
  max.addEventListener("change", () => { dlqState.max = max.value; });
  main.append(h("h1", {}, "Dead letters"),
    h("p", { class: "lead" }, "Events a consumer failed on every attempt. Redrive gives them back to the consumer, which tries again — unless its service has applied the event since; discard deletes them. Both need the operator token."),
    form,
    h("div", { class: "toolbar", role: "group", "aria-label": "Dead letter actions" }, redrive,
      h("span", { class: "max" }, h("label", { for: "dlq-max", class: "inline" }, "at most"), max, h("span", { class: "muted" }, "(oldest first)")),
      h("span", { class: "max" }, upcast, h("label", { for: "dlq-upcast", class: "inline", title: "Republish each event through the current upcasters: a v1 event goes back as v2" }, "as the current version")),
      discard, count),
    result, list);
  focusHeading(main);
  let letters = [];
  const selected = () => letters.filter((d) => $(`input[data-seq="${d.seq}"]`, list)?.checked);
  const update = () => {
    const n = selected().length;
    count.textContent = n ? plural(n, "event") + " selected" : "none selected";
    redrive.disabled = discard.disabled = !n;
  };
  // load draws the dead letters the filters let through; the list is
  // aria-busy until it has.
  async function load() {
    list.setAttribute("aria-busy", "true");
    try {
      await draw();
    } finally {
      list.setAttribute("aria-busy", "false");
    }
  }
  async function draw() {
    const q = new URLSearchParams();
    for (const k of ["consumer", "type", "since", "until"]) if (dlqState[k]) q.set(k, dlqState[k]);
    try {
      const r = await api("GET", "/api/dlq" + (q.size ? "?" + q : ""));
      letters = (r.data && r.data.deadLetters) || [];
    } catch (e) {
      list.replaceChildren(h("p", { class: "error" }, e.message));
      return;
    }
    for (const d of letters) { seen.consumer.add(d.consumer); if (d.type) seen.type.add(d.type); }
    for (const k of ["consumer", "type"]) lists[k].replaceChildren(...[...seen[k]].sort().map((v) => h("option", { value: v })));
    const groups = new Map();
    for (const d of letters) { if (!groups.has(d.consumer)) groups.set(d.consumer, []); groups.get(d.consumer).push(d); }
    if (!letters.length) {
      list.replaceChildren(h("p", { class: "empty" }, q.size ? "No dead letters match these filters." : "No dead letters. Every consumer has settled everything it was given."));
      update();
      return;
    }
    list.replaceChildren(...[...groups].map(([consumer, ds]) => {
      const gid = "dlq-" + consumer.replace(/[^A-Za-z0-9_-]/g, "_");
      const all = h("input", { type: "checkbox", id: gid + "-all", "aria-label": "Select all of " + consumer,
        onchange: (e) => { for (const c of list.querySelectorAll(`input[data-consumer="${CSS.escape(consumer)}"]`)) c.checked = e.target.checked; update(); } });
      return h("section", { class: "dlq-group", "aria-labelledby": gid + "-h" },
        h("h2", { id: gid + "-h" }, consumer, " ", h("span", { class: "muted" }, `· ${ds[0].stream || ""} · ${plural(ds.length, "event")}`)),
        h("div", { class: "table-wrap" }, h("table", { class: "dlq" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, all), ["DLQ seq", "Type", "Subject", "Error", "Attempts", "Failed at", "Event"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, ds.map((d) => {
            const evid = eventIdOf(d);
            const cid = `dl-${d.seq}`;
            return h("tr", {},
              h("td", {}, h("input", { type: "checkbox", id: cid, "data-seq": d.seq, "data-consumer": consumer, onchange: update }),
                h("label", { for: cid, class: "visually-hidden" }, `Select dead letter ${d.seq} of ${consumer}`)),
              h("td", { class: "num", "data-label": "DLQ seq" }, String(d.seq)),
              h("td", { class: "mono wrap", "data-label": "Type" }, d.type || ""),
              h("td", { class: "mono wrap", "data-label": "Subject" }, d.subject),
              h("td", { class: "error wrap", "data-label": "Error" }, d.error),
              h("td", { class: "num", "data-label": "Attempts" }, String(d.attempts ?? "")),
              h("td", { class: "nowrap", "data-label": "Failed at" }, fmtDateTime(d.failedAt)),
              h("td", { "data-label": "Event" }, evid ? h("a", { href: "#/event/" + encodeURIComponent(evid) }, "journey") : ""));
          })))));
    }));
    update();
  }
  // doRedrive asks the backend for a dry run of the selection, shows its
  // answer in the confirmation, and redrives on confirm.
  async function doRedrive(ds, token) {
    const body = { seqs: ds.map((d) => d.seq) };
    if (Number(max.value) > 0) body.max = Number(max.value);
    if (upcast.checked) body.upcast = true;
    let plan;
    try {
      plan = (await api("POST", "/api/dlq/redrive", { ...body, dryRun: true }, { token })).data || {};
    } catch (e) {
      showError(e);
      return;
    }
    const decisions = plan.decisions || [];
    const go = decisions.filter((d) => d.action === "redrive");
    const by = new Map();
    for (const d of go) by.set(d.consumer, (by.get(d.consumer) || 0) + 1);
    const left = decisions.length - go.length;
    let text = go.length
      ? `Give ${[...by].map(([c, k]) => `${plural(k, "event")} back to ${c}`).join(" and ")}${upcast.checked ? ", each as its type's current version" : ""}. ${go.length === 1 ? "It is" : "Each is"} delivered to its consumer again and leaves the dead letters.`
      : "Nothing to redrive.";
    if (left) text += ` ${plural(left, "event")} ${left === 1 ? "is" : "are"} left where ${left === 1 ? "it is" : "they are"}: see why below.`;
    const ok = await confirmDialog("Redrive dead letters", text, go.length ? "Redrive " + plural(go.length, "event") : null, false, planList(decisions));
    if (!ok) return;
    try {
      const r = await api("POST", "/api/dlq/redrive", body, { token });
      showResult("redrive", ds, r.data || {});
    } catch (e) {
      showError(e);
    }
    await load();
  }
  async function act(kind) {
    const ds = selected();
    if (!ds.length) return;
    const token = operatorToken();
    if (!token) return;
    if (kind === "redrive") return doRedrive(ds, token);
    const by = new Map();
    for (const d of ds) by.set(d.consumer, (by.get(d.consumer) || 0) + 1);
    const n = ds.length;
    const text = by.size === 1
      ? `Delete ${plural(n, "event")} for good. ${[...by.keys()][0]} will never get ${n === 1 ? "it" : "them"} again; this cannot be undone.`
      : `Delete ${plural(n, "event")} for good (${[...by].map(([c, k]) => `${k} of ${c}`).join(", ")}). They will never be delivered again; this cannot be undone.`;
    if (!await confirmDialog("Discard dead letters", text, "Delete for good", true)) return;
    try {
      const r = await api("POST", "/api/dlq/discard", { seqs: ds.map((d) => d.seq) }, { token });
      showResult("discard", ds, r.data || {});
    } catch (e) {
      showError(e);
    }
    await load();
  }
  function showResult(kind, ds, res) {
    const done = new Set((res.done || []).map(String));
    const failed = res.failed || [];
    const decided = new Map((res.decisions || []).map((d) => [String(d.seq), d]));
    const link = (d) => { const id = eventIdOf(d); return h("li", {}, `#${d.seq} ${d.subject || ""} `, id ? h("a", { href: "#/event/" + encodeURIComponent(id) }, "see its journey") : ""); };
    const gone = ds.filter((d) => done.has(String(d.seq)));
    const skipped = (res.skipped || []).map((s) => decided.get(String(s))).filter(Boolean);
    fill(result, h("div", { class: "result " + (failed.length || skipped.length ? "partial" : "ok") },
      h("p", {}, h("strong", {}, kind === "redrive" ? `Gave ${plural(gone.length, "event")} back to ${[...new Set(gone.map((d) => d.consumer))].join(" and ") || "no consumer"}.` : `Deleted ${plural(gone.length, "event")} for good.`),
        failed.length ? ` ${failed.length} failed.` : "", skipped.length ? ` ${skipped.length} left in the dead letters.` : "",
        kind === "redrive" && gone.length ? " Each journey shows the redrive, and whether the consumer has applied it now." : ""),
      h("ul", {}, gone.map(link)),
      skipped.length ? h("ul", { class: "skipped" }, skipped.map((d) => h("li", { "data-seq": d.seq, "data-action": d.action }, `#${d.seq}: ${d.reason}`))) : null,
      failed.length ? h("ul", { class: "error" }, failed.map((f) => h("li", {}, `#${f.seq}: ${f.error || "failed"}`))) : null));
    result.querySelector("a")?.focus();
  }
  redrive.addEventListener("click", () => act("redrive"));
  discard.addEventListener("click", () => act("discard"));
  await load();
}

// planList shows a dry run's decisions: what goes back to which consumer
// and why, and what is left and why.
function planList(decisions) {
  const label = { redrive: "redrive", "already-applied": "skip: applied", "over-max": "left: over the max", missing: "not found" };
  return h("div", { class: "plan" },
    h("p", { class: "small muted" }, "The dry run says:"),
    h("ul", { id: "dlq-plan" }, decisions.map((d) => h("li", { "data-seq": d.seq, "data-action": d.action, class: d.unchecked ? "unchecked" : null },
      h("span", { class: "badge badge-" + (d.action === "redrive" ? "applied" : "pending") }, label[d.action] || d.action), " ",
      h("strong", {}, "#" + d.seq), d.type ? [" ", h("code", {}, d.type)] : null,
      d.action === "redrive" ? [" → ", h("strong", {}, d.consumer), d.service ? ` (${d.service})` : ""] : null,
      h("div", { class: "small" }, d.reason)))));
}

// confirmDialog asks in the <dialog> and resolves true on confirm. With
// no okLabel there is nothing to confirm: only Close is offered.
function confirmDialog(title, text, okLabel, danger, detail) {
  const d = $("#confirm");
  $("#confirm-title").textContent = title;
  $("#confirm-text").textContent = text;
  fill($("#confirm-detail"), detail || null);
  const ok = $("#confirm-ok");
  ok.hidden = !okLabel;
  ok.textContent = okLabel || "";
  ok.className = danger ? "danger" : "primary";
  $("#confirm-cancel").textContent = okLabel ? "Cancel" : "Close";
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
    d.returnValue = "";
    d.showModal();
    $("#confirm-cancel").focus();
  });
}
