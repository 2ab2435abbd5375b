// dlq.js: the dead letters page. The DLQ grouped by consumer; the
// operator redrives or discards the selected letters after confirming.

import { $, h, fill, api, operatorToken, showError, fmtDateTime, plural, eventIdOf, focusHeading } from "./core.js";

export async function pageDLQ(main) {
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
