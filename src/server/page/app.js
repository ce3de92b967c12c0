// The triage page: the queue (#/?filters) and one ad (#/ad/ID), talking to the JSON API.
// Ad text is hostile input: it is only ever put into the page with textContent, never as HTML.
"use strict";

const state = { csrf: null, me: null, rows: [], selected: 0, query: null, nextOffset: null };
// The taxonomy's indicator ids, read from /api/model at start.
let INDICATORS = [];

// ---- small helpers -------------------------------------------------------------------------

/** Creates an element with attributes and children (strings become text nodes). */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "on") for (const [ev, f] of Object.entries(v)) e.addEventListener(ev, f);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

async function api(method, path, body) {
  const opts = { method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
  if (method !== "GET") {
    opts.headers["X-CSRF-Token"] = state.csrf;
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body || {});
  }
  const res = await fetch(path, opts);
  if (res.status === 401) { location.href = "/login"; throw new Error("logged out"); }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

function show(...nodes) {
  const view = document.getElementById("view");
  view.replaceChildren(...nodes);
}

function flash(message, kind) {
  const box = el("p", { class: "flash " + (kind || "error"), role: "status" }, message);
  document.getElementById("view").prepend(box);
}

const fmt = (x) => (typeof x === "number" ? x.toFixed(3) : "–");
const typing = (ev) => ["INPUT", "TEXTAREA", "SELECT"].includes(ev.target.tagName);

// ---- the queue -----------------------------------------------------------------------------

function queueParams() {
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  if (!q.has("status")) q.set("status", "new");
  return q;
}

function filterForm(q) {
  const select = (name, options) => el("select", { name, id: "f-" + name },
    options.map(([v, t]) => el("option", { value: v, selected: q.get(name) === v }, t)));
  const form = el("form", { class: "filters", id: "filters", on: { submit: (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v !== "") p.set(k, v);
    location.hash = "#/?" + p.toString();
  } } },
    el("label", {}, "Status ", select("status", [["new", "new"], ["in_review", "in review"],
      ["escalated", "escalated"], ["dismissed", "dismissed"], ["", "any"]])),
    el("label", {}, "Language ", select("lang", [["", "any"], ["es", "es"], ["en", "en"], ["zh", "zh"], ["ru", "ru"]])),
    el("label", {}, "Office ", el("input", { name: "office", value: q.get("office") || "", size: 12 })),
    el("label", {}, "Indicator ", select("indicator", [["", "any"], ...INDICATORS.map((i) => [i, i])])),
    el("label", {}, "Score ≥ ", el("input", { name: "min_score", value: q.get("min_score") || "", size: 4 })),
    el("label", {}, "From ", el("input", { name: "from", type: "date", value: q.get("from") || "" })),
    el("label", {}, "To ", el("input", { name: "to", type: "date", value: q.get("to") || "" })),
    el("label", {}, "Order ", select("order", [["risk", "riskiest first"], ["network", "riskiest network first"],
      ["uncertain", "uncertain first"]])),
    el("button", { type: "submit" }, "Apply"));
  return form;
}

async function renderQueue() {
  const q = queueParams();
  state.query = q;
  const data = await api("GET", "/api/ads?" + q.toString());
  state.rows = data.items;
  state.nextOffset = data.next_offset;
  state.selected = Math.min(state.selected, Math.max(0, state.rows.length - 1));
  const table = el("table", { id: "queue" },
    el("thead", {}, el("tr", {}, ["Score", "Lang", "Office", "Top indicators", "Linked", "Status",
      "Assignee", "Submitted", "Text"].map((h) => el("th", {}, h)))),
    el("tbody", {}, state.rows.map((r, i) => el("tr", {
      "data-id": r.id, class: i === state.selected ? "selected" : "",
      on: { click: () => openAd(r.id) },
    },
      el("td", { class: "num" }, fmt(r.score)),
      el("td", {}, r.lang || "–"),
      el("td", {}, r.office || "–"),
      el("td", {}, r.top_indicators.map(([k, s]) => el("span", { class: "tag" }, `${k} ${s.toFixed(2)}`))),
      el("td", { class: "num" }, r.linked === undefined ? "–" : r.linked),
      el("td", {}, el("span", { class: "status " + r.status }, r.status)),
      el("td", {}, r.assigned_to || "–"),
      el("td", {}, r.submitted_at.slice(0, 10)),
      el("td", { class: "preview" }, r.preview)))));
  const more = state.nextOffset === null ? null : el("button", { type: "button", on: { click: () => {
    q.set("offset", state.nextOffset);
    location.hash = "#/?" + q.toString();
  } } }, "Next page");
  show(el("h1", {}, "Queue"), filterForm(q),
    state.rows.length ? table : el("p", { class: "empty" }, "No ads match."), more);
}

function moveSelection(delta) {
  if (!state.rows.length) return;
  state.selected = Math.max(0, Math.min(state.rows.length - 1, state.selected + delta));
  document.querySelectorAll("#queue tbody tr").forEach((tr, i) => {
    tr.classList.toggle("selected", i === state.selected);
    if (i === state.selected) tr.scrollIntoView({ block: "nearest" });
  });
}

function openAd(id) { location.hash = "#/ad/" + id; }

// ---- one ad --------------------------------------------------------------------------------

/** The text with the evidence spans of `field` highlighted; offsets count code points. */
function highlighted(text, evidence, field) {
  const chars = Array.from(text);
  const spans = evidence.filter((e) => e.field === field).sort((a, b) => a.start - b.start);
  const out = el("div", { class: "adtext", id: "text-" + field });
  let at = 0;
  for (const e of spans) {
    if (e.start < at || e.end > chars.length) continue;
    out.append(chars.slice(at, e.start).join(""));
    const what = e.indicator || "overall";
    out.append(el("mark", { class: "ev", title: `${what} (weight ${e.weight.toFixed(2)})`, "data-indicator": what },
      chars.slice(e.start, e.end).join("")));
    at = e.end;
  }
  out.append(chars.slice(at).join(""));
  return out;
}

function indicatorBars(indicators, flagged) {
  return el("table", { class: "bars" }, Object.entries(indicators).map(([k, p]) => el("tr", {},
    el("th", { class: flagged.includes(k) ? "flagged" : "" }, k),
    el("td", {}, el("div", { class: "bar" }, el("div", { class: "fill", style: null, "data-p": p }))),
    el("td", { class: "num" }, fmt(p)))));
}

function entityList(ent) {
  const items = [];
  for (const p of ent.phones || []) items.push(["phone", p]);
  for (const m of ent.emails || []) items.push(["email", m]);
  for (const u of ent.urls || []) items.push(["url", u]);
  for (const h of ent.handles || []) items.push([h.app, h.id]);
  for (const m of ent.money || []) items.push(["money", `${m.amount} ${m.currency || ""} ${m.per ? "/ " + m.per : ""}`]);
  for (const a of ent.ages || []) items.push(["age", Array.isArray(a) ? a.join("–") : a]);
  return items.length
    ? el("ul", { class: "entities" }, items.map(([k, v]) => el("li", {}, el("b", {}, k + ": "), v)))
    : el("p", { class: "empty" }, "none");
}

function history(events) {
  return el("ol", { class: "history" }, events.map((e) => el("li", {},
    el("time", {}, e.at.replace("T", " ").slice(0, 19)), " ", el("b", {}, e.user), " ", e.action,
    e.from_status || e.to_status ? ` (${e.from_status || "–"} → ${e.to_status || "–"})` : "",
    e.target ? ` → ${e.target}` : "",
    e.label ? ` [${e.label.suspicious ? "suspicious" : "benign"}${e.label.indicators.length ? ": " + e.label.indicators.join(", ") : ""}]` : "",
    e.note ? el("q", {}, e.note) : null)));
}

function triageForms(ad) {
  const s = ad.scored;
  const checked = new Set(ad.label ? ad.label.indicators : s.flagged_indicators);
  const act = (path, body, back) => api("POST", `/api/ads/${ad.id}/${path}`, body)
    .then(() => (back ? (location.hash = "#/?" + (state.query || "status=new")) : route()))
    .catch((e) => flash(e.message));
  const labelForm = el("form", { id: "label-form", on: { submit: (ev) => {
    ev.preventDefault();
    const f = new FormData(labelForm);
    act("label", { suspicious: f.get("verdict") === "suspicious", indicators: f.getAll("indicators"),
      note: f.get("note") || null }, true);
  } } },
    el("fieldset", {}, el("legend", {}, "Label"),
      el("label", {}, el("input", { type: "radio", name: "verdict", value: "suspicious", id: "verdict-suspicious",
        checked: ad.label ? ad.label.suspicious : s.flagged }), " suspicious"),
      el("label", {}, el("input", { type: "radio", name: "verdict", value: "benign", id: "verdict-benign",
        checked: ad.label ? !ad.label.suspicious : !s.flagged }), " benign"),
      el("div", { class: "checks" }, INDICATORS.map((i) => el("label", {},
        el("input", { type: "checkbox", name: "indicators", value: i, checked: checked.has(i) }), " " + i))),
      el("textarea", { name: "note", placeholder: "Note (why)", rows: 2 }),
      el("button", { type: "submit", id: "label-button" }, "Save label")));
  const escForm = el("form", { id: "escalate-form", on: { submit: (ev) => {
    ev.preventDefault();
    const f = new FormData(escForm);
    act("escalate", { office: f.get("office"), reason: f.get("reason") }, true);
  } } },
    el("fieldset", {}, el("legend", {}, "Escalate to a field office"),
      el("input", { name: "office", id: "escalate-office", placeholder: "Office (e.g. Houston)", required: true }),
      el("input", { name: "reason", placeholder: "Reason", required: true }),
      el("button", { type: "submit" }, "Escalate")));
  const noteForm = el("form", { id: "note-form", on: { submit: (ev) => {
    ev.preventDefault();
    act("note", { text: new FormData(noteForm).get("text") }, false);
  } } },
    el("fieldset", {}, el("legend", {}, "Note"),
      el("input", { name: "text", placeholder: "Add a note", required: true }),
      el("button", { type: "submit" }, "Add note")));
  const buttons = el("p", { class: "buttons" },
    el("button", { type: "button", id: "dismiss-button", on: { click: () => act("dismiss", { note: null }, true) } }, "Dismiss"),
    el("button", { type: "button", id: "assign-button", on: { click: () => act("assign", { to: state.me.name }, false) } }, "Assign to me"));
  return el("section", { class: "triage" }, labelForm, escForm, noteForm, buttons);
}

async function renderAd(id) {
  const ad = await api("GET", "/api/ads/" + encodeURIComponent(id));
  const s = ad.scored;
  const ev = s.evidence || [];
  const meta = ad.metadata || {};
  const texts = el("div", { class: "texts" },
    el("section", {}, el("h2", {}, `Original (${s.lang || "?"})`), highlighted(ad.text, ev, "text")),
    ad.translation
      ? el("section", {}, el("h2", {}, "Translation"), highlighted(ad.translation, ev, "translation"))
      : null);
  const head = el("div", { class: "adhead" },
    el("h1", {}, `Ad ${ad.id} `, el("span", { class: "status " + (ad.status || "none") }, ad.status || "not queued")),
    el("p", {}, `score ${fmt(s.score)} · ${s.flagged ? "flagged" : "not flagged"} · office ${meta.office || "–"} · `,
      `publication ${meta.publication || "–"} · assigned to ${ad.assigned_to || "nobody"}`,
      ad.escalated_to ? ` · escalated to ${ad.escalated_to}` : ""));
  const links = ad.links;
  const linked = links
    ? el("section", { id: "links" }, el("h2", {}, `Network ${links.network}: ${links.network_size} ads, score ${fmt(links.network_score)}`),
      links.linked.length
        ? el("ul", {}, links.linked.map((l) => el("li", {},
          el("a", { href: "#/ad/" + l.id }, `ad ${l.id}`), ` (${fmt(l.score)}) — ${l.why.join("; ")}`)))
        : el("p", { class: "empty" }, "no linked ads"),
      links.ignored.length
        ? el("p", { class: "empty" }, "ignored contacts: " + links.ignored.map(([c, why]) => `${c} (${why})`).join("; "))
        : null)
    : null;
  show(head, texts,
    el("div", { class: "columns" },
      el("section", {}, el("h2", {}, "Indicators"), indicatorBars(s.indicators, s.flagged_indicators)),
      el("section", {}, el("h2", {}, "Entities"), entityList(s.entities || {}), linked),
      el("section", {}, el("h2", {}, "History"), history(ad.history))),
    state.me.role === "submitter" ? null : triageForms(ad));
  document.querySelectorAll(".bar .fill").forEach((f) => { f.style.width = (100 * Number(f.dataset.p)) + "%"; });
}

// ---- reports and exports -------------------------------------------------------------------

/** A form whose submit downloads `path` with the form's fields as the query string. */
function downloadForm(id, title, path, fields) {
  const form = el("form", { id, class: "filters", on: { submit: (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v !== "") p.set(k, v);
    location.href = path + "?" + p.toString();
  } } }, el("fieldset", {}, el("legend", {}, title), fields, el("button", { type: "submit" }, "Download")));
  return form;
}

function renderReports() {
  const now = new Date();
  const quarter = `${now.getFullYear()}Q${Math.floor(now.getMonth() / 3) + 1}`;
  const select = (name, options) => el("select", { name }, options.map((o) => el("option", { value: o }, o)));
  const report = downloadForm("report-form", "Report", "/api/report", [
    el("label", {}, "Period ", el("input", { name: "period", value: quarter, size: 18, required: true,
      title: "2027Q1, 2027-01..2027-03 or 2027-02" })),
    state.me.role === "submitter" ? null : el("label", {}, "Office ", el("input", { name: "office", size: 12 })),
    el("label", {}, "Format ", select("format", ["html", "md", "csv", "json"]))]);
  const exp = state.me.role === "submitter" ? null : downloadForm("export-form", "Export ads", "/api/export", [
    el("label", {}, "Status ", el("input", { name: "status", value: "escalated", size: 18,
      title: "comma-separated: new, in_review, escalated, dismissed; empty for all ads" })),
    el("label", {}, "Format ", select("format", ["csv", "jsonl"])),
    el("label", {}, el("input", { type: "checkbox", name: "redact", value: "true", checked: true }), " redact contacts and names"),
    el("label", {}, el("input", { type: "checkbox", name: "labels", value: "true" }), " analysts' labels (training format)"),
    el("label", {}, el("input", { type: "checkbox", name: "bom", value: "true" }), " byte order mark (spreadsheets)")]);
  show(el("h1", {}, "Reports and exports"), report, exp);
}

// ---- routing and keys ----------------------------------------------------------------------

async function route() {
  try {
    const m = location.hash.match(/^#\/ad\/(\d+)/);
    if (m) await renderAd(m[1]);
    else if (location.hash === "#/reports") renderReports();
    else await renderQueue();
  } catch (e) {
    if (e.message !== "logged out") flash(e.message);
  }
}

document.addEventListener("keydown", (ev) => {
  if (typing(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const onAd = location.hash.startsWith("#/ad/");
  if (location.hash === "#/reports") return;
  const click = (id) => { const b = document.getElementById(id); if (b) b.click(); };
  if (!onAd) {
    if (ev.key === "j") moveSelection(1);
    else if (ev.key === "k") moveSelection(-1);
    else if (ev.key === "Enter" && state.rows[state.selected]) openAd(state.rows[state.selected].id);
    return;
  }
  if (ev.key === "s" || ev.key === "b") {
    const r = document.getElementById(ev.key === "s" ? "verdict-suspicious" : "verdict-benign");
    if (r) { r.checked = true; click("label-button"); }
  } else if (ev.key === "e") {
    const o = document.getElementById("escalate-office");
    if (o) { ev.preventDefault(); o.focus(); }
  } else if (ev.key === "d") click("dismiss-button");
  else if (ev.key === "a") click("assign-button");
  else if (ev.key === "u" || ev.key === "Escape") location.hash = "#/?" + (state.query || "status=new");
});

window.addEventListener("hashchange", route);

(async function start() {
  const me = await api("GET", "/api/me");
  state.csrf = me.csrf;
  state.me = me.user;
  document.getElementById("who").textContent = `${me.user.name} (${me.user.role}${me.user.office ? ", " + me.user.office : ""})`;
  const m = await api("GET", "/api/model");
  INDICATORS = m.indicators;
  document.getElementById("model").textContent = `model ${m.model_version} · threshold ${fmt(m.threshold)}`;
  document.getElementById("logout").addEventListener("click", async () => {
    await api("POST", "/api/logout");
    location.href = "/login";
  });
  await route();
})();
