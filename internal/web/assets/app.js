// Vigil live page: the hosts overview (each host's worst current
// conclusion and why, its latest observation), the monitor tree (this
// monitor, its children's health from their heartbeats, their counters,
// and probes of a child: its status and the evidence behind its reports),
// the track table (seed 000 Figure 7) with each track's
// score and observations over time (Figures 5 and 6) and its evidence, the
// observation types by host (Table 2), the resolver's decisions with their
// reasons (and undo for those in force), and the newest reports and events,
// all updated live. Every value shown comes from hosts or the network and
// is placed with textContent (or as an SVG attribute value) only: nothing
// received is ever parsed as HTML.
"use strict";

const MAX_ROWS = 200;
let recent = 0;

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function attrsText(attrs) {
  if (!attrs) return "";
  return Object.keys(attrs).sort().map(k => {
    const v = attrs[k];
    return k + "=" + (Array.isArray(v) ? "[" + v.join(",") + "]" : String(v));
  }).join(" ");
}

function prepend(tbody, tr) {
  tbody.insertBefore(tr, tbody.firstChild);
  while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(tbody.rows.length - 1);
}

const counts = { events: 0, reports: 0 };

// addRow shows a record as a row of cells (strings, or nodes already built
// with textContent), newest first unless loading the initial list.
function addRow(table, id, cells, atEnd) {
  const tr = document.createElement("tr");
  tr.dataset.id = id;
  for (const c of cells) {
    if (c instanceof Node) {
      const td = document.createElement("td");
      td.appendChild(c);
      tr.appendChild(td);
    } else if (Array.isArray(c)) {
      cell(tr, c[0], c[1]);
    } else {
      cell(tr, c);
    }
  }
  const tbody = document.querySelector("#" + table + " tbody");
  if (atEnd) tbody.appendChild(tr); else prepend(tbody, tr);
  counts[table]++;
  document.getElementById(table + "-count").textContent = "(" + counts[table] + ")";
  return tr;
}

function addEvent(ev, atEnd) {
  const tr = addRow("events", ev.id, [ev.time, ev.type, ev.host, ev.ip, ev.source, [attrsText(ev.attrs), "attrs"]], atEnd);
  markReport(tr, ev);
}

// ---- Tracks: the live track table of seed 000 Figure 7 ------------------

const tracks = new Map(); // monitor, engine, model, subject -> newest report
let sortKey = "score", sortDir = -1, renderPending = false, selected = null;

function trackKey(r) { return [r.monitor, r.engine, r.model, r.host, r.ip].join("\u0000"); }

// isTrack: a report of a track engine (it counts observations), not a
// verdict of a model comparison.
function isTrack(r) { return r.state !== "Verdict" && r.attrs && typeof r.attrs.observations === "number"; }

function upsertTrack(r) {
  if (!isTrack(r)) return;
  const k = trackKey(r);
  const old = tracks.get(k);
  if (old && old.time > r.time) return;
  tracks.set(k, r);
  if (!renderPending) { renderPending = true; requestAnimationFrame(renderTracks); }
  if (selected === k) showTrack(r);
}

function sortValue(r, key) {
  switch (key) {
    case "subject": return (r.host || "") + " " + (r.ip || "");
    case "modified": return (r.attrs && r.attrs.last_modified) || r.time;
    case "observations": return r.attrs ? r.attrs.observations : 0;
    default: return r[key];
  }
}

function sevClass(s) { return "sev-" + (["green", "yellow", "red"].includes(s) ? s : "green"); }

function renderTracks() {
  renderPending = false;
  const rows = Array.from(tracks.entries());
  rows.sort((a, b) => {
    const x = sortValue(a[1], sortKey), y = sortValue(b[1], sortKey);
    return (x < y ? -1 : x > y ? 1 : 0) * sortDir;
  });
  const tbody = document.querySelector("#tracks tbody");
  const frag = document.createDocumentFragment();
  for (const [k, r] of rows) {
    const tr = document.createElement("tr");
    tr.dataset.key = k;
    if (k === selected) tr.className = "selected";
    cell(tr, r.model);
    cell(tr, r.host && r.ip ? r.host + " " + r.ip : (r.host || r.ip));
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("div");
    fill.className = sevClass(r.severity);
    fill.style.width = Math.max(2, Math.min(100, r.score * 100)) + "%";
    bar.appendChild(fill);
    const td = document.createElement("td");
    td.className = "status " + sevClass(r.severity);
    td.title = r.severity;
    td.appendChild(bar);
    tr.appendChild(td);
    cell(tr, typeof r.score === "number" ? r.score.toFixed(3) : r.score);
    cell(tr, r.state);
    cell(tr, (r.attrs && r.attrs.last_modified) || r.time);
    cell(tr, r.attrs ? r.attrs.observations : "");
    frag.appendChild(tr);
  }
  tbody.replaceChildren(frag);
  document.getElementById("tracks-count").textContent = "(" + tracks.size + ")";
}

document.querySelector("#tracks thead").addEventListener("click", e => {
  const th = e.target.closest("th[data-key]");
  if (!th) return;
  const key = th.dataset.key;
  sortDir = key === sortKey ? -sortDir : (key === "score" || key === "observations" || key === "modified" ? -1 : 1);
  sortKey = key;
  for (const h of document.querySelectorAll("#tracks th")) h.classList.remove("sorted-asc", "sorted-desc");
  th.classList.add(sortDir > 0 ? "sorted-asc" : "sorted-desc");
  renderTracks();
});

document.querySelector("#tracks tbody").addEventListener("click", e => {
  const tr = e.target.closest("tr");
  if (!tr) return;
  selected = tr.dataset.key;
  renderTracks();
  showTrack(tracks.get(selected));
});

document.getElementById("detail-close").addEventListener("click", () => {
  selected = null;
  document.getElementById("detail").hidden = true;
  renderTracks();
});

function q(params) {
  return Object.entries(params).filter(([, v]) => v != null && v !== "")
    .map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(v)).join("&");
}

// session is who is logged in (GET api/session): user, role, auth (whether
// this server needs a login) and the CSRF token that every state-changing
// request carries in X-CSRF-Token.
let session = { user: "", role: "viewer", auth: true, csrf_token: "" };

// toLogin leaves for the login page when the server needs a login.
function toLogin(resp) {
  if (resp.status === 401) {
    window.location.assign("/login.html");
    return true;
  }
  return false;
}

async function loadSession() {
  const resp = await fetch("api/session");
  if (toLogin(resp)) throw new Error("login required");
  session = await resp.json();
  const who = document.getElementById("who");
  const out = document.getElementById("logout");
  if (session.auth && session.user) {
    who.textContent = session.user + " (" + session.role + ")";
    out.hidden = false;
  }
}

document.getElementById("logout").addEventListener("click", async () => {
  await fetch("api/logout", { method: "POST", headers: { "X-CSRF-Token": session.csrf_token || "" } });
  window.location.assign("/login.html");
});

// mayOperate says whether the session's role may undo and request
// responses.
function mayOperate() {
  return session.role === "operator" || session.role === "admin";
}

async function getJSON(path) {
  const resp = await fetch(path);
  if (toLogin(resp)) throw new Error("login required");
  if (!resp.ok) throw new Error(path + ": " + resp.status);
  return resp.json();
}

// showTrack opens a track: its score over time with the severity bands
// (Figure 5) and its host's observations over time (Figure 6), both drawn
// by the server as SVG images, and its evidence, the events in order with
// their attributes.
async function showTrack(r) {
  if (!r) return;
  const panel = document.getElementById("detail");
  panel.hidden = false;
  document.getElementById("detail-title").textContent = r.model + " · " + (r.host || "") + " " + (r.ip || "");
  const subject = r.ip ? { ip: r.ip } : { host: r.host };
  try {
    const at = Date.now(); // a new image each time the track is opened
    document.getElementById("score-chart").src = "api/charts/score.svg?" + q({ ...subject, monitor: r.monitor, engine: r.engine, model: r.model, at });
    document.getElementById("obs-chart").src = "api/charts/observations.svg?" + q({ ...subject, at });
    const evidence = r.evidence && r.evidence.length
      ? await getJSON("api/events?" + r.evidence.slice(0, 256).map(id => "id=" + encodeURIComponent(id)).join("&")) : [];
    evidence.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    const tbody = document.querySelector("#evidence tbody");
    tbody.replaceChildren();
    for (const ev of evidence) {
      const tr = document.createElement("tr");
      for (const v of [ev.time, ev.type, ev.host, ev.ip, ev.source]) cell(tr, v);
      cell(tr, attrsText(ev.attrs), "attrs");
      markReport(tr, ev);
      tbody.appendChild(tr);
    }
  } catch (e) {
    console.warn("loading the track", e);
  }
}

// ---- Observation types by host (seed 000 Table 2) ------------------------

async function loadTypeTable() {
  let rows;
  try { rows = await getJSON("api/observations/by-host"); } catch (e) { return; }
  const types = Array.from(new Set(rows.flatMap(r => Object.keys(r.counts)))).sort();
  const head = document.querySelector("#bytype thead tr");
  head.replaceChildren();
  for (const h of ["host", "ip", ...types, "total"]) {
    const th = document.createElement("th");
    th.textContent = h;
    if (h !== "host" && h !== "ip") th.className = "num";
    head.appendChild(th);
  }
  // A count well above the type's median across hosts stands out (the
  // victim's PROC.MEM and PROC.SPAWN in the paper's Table 2).
  const median = {};
  for (const t of types) {
    const v = rows.map(r => r.counts[t] || 0).sort((a, b) => a - b);
    median[t] = v[Math.floor(v.length / 2)];
  }
  const frag = document.createDocumentFragment();
  for (const r of rows) {
    const tr = document.createElement("tr");
    cell(tr, r.host);
    cell(tr, r.ip);
    for (const t of types) {
      const n = r.counts[t] || 0;
      cell(tr, n, rows.length > 2 && n >= 3 && n > 2 * median[t] ? "num excess" : "num");
    }
    cell(tr, r.total, "num");
    frag.appendChild(tr);
  }
  document.querySelector("#bytype tbody").replaceChildren(frag);
  document.getElementById("bytype-count").textContent = "(" + rows.length + " hosts)";
}

function addReport(r, atEnd) {
  upsertTrack(r);
  const badge = document.createElement("span");
  const level = ["green", "yellow", "red"].includes(r.severity) ? r.severity : "green";
  badge.className = "sev sev-" + level;
  badge.textContent = r.severity;
  const score = typeof r.score === "number" ? r.score.toFixed(3) : r.score;
  addRow("reports", r.id, [r.time, r.monitor, r.engine, r.model, r.host, r.ip, score, badge, r.state, explanation(r)], atEnd);
}

// explanation is a report's explanation cell; a summary of what a quiet
// time held back lists each text it would have said on its own line.
function explanation(r) {
  const held = r.attrs && Array.isArray(r.attrs.suppressed_texts) ? r.attrs.suppressed_texts : null;
  if (!held || held.length === 0) return [r.explanation, "expl"];
  const div = document.createElement("div");
  div.className = "expl";
  div.textContent = r.explanation == null ? "" : String(r.explanation);
  const ul = document.createElement("ul");
  ul.className = "held";
  for (const t of held) {
    const li = document.createElement("li");
    li.textContent = String(t);
    ul.appendChild(li);
  }
  if (r.attrs.suppressed_texts_more) {
    const li = document.createElement("li");
    li.textContent = "…";
    ul.appendChild(li);
  }
  div.appendChild(ul);
  return div;
}

async function load(path, add) {
  try {
    const resp = await fetch(path);
    if (toLogin(resp) || !resp.ok) return;
    const list = await resp.json();
    for (const x of list) add(x, true);
  } catch (e) {
    console.warn("loading " + path, e);
  }
}

function connect() {
  const status = document.getElementById("status");
  const es = new EventSource("api/stream");
  es.onopen = () => { status.textContent = "live"; status.className = "status live"; };
  es.onerror = () => {
    status.textContent = "reconnecting…";
    status.className = "status down";
    loadSession().catch(() => {}); // a session that ended leaves for the login page
  };
  es.addEventListener("event", m => { recent++; addEvent(JSON.parse(m.data), false); });
  es.addEventListener("report", m => { addReport(JSON.parse(m.data), false); hostsSoon(); });
}

setInterval(() => {
  document.getElementById("rate").textContent = recent + " events/s";
  recent = 0;
}, 1000);

async function loadTracks() {
  try {
    for (const r of await getJSON("api/tracks?limit=10000")) upsertTrack(r);
  } catch (e) {
    console.warn("loading tracks", e);
  }
}

// ---- Hosts overview: one row per host, the most severe first -------------

async function loadHosts() {
  let rows;
  try { rows = await getJSON("api/hosts"); } catch (e) { return; }
  const frag = document.createDocumentFragment();
  for (const h of rows) {
    const tr = document.createElement("tr");
    const level = ["green", "yellow", "red"].includes(h.severity) ? h.severity : "green";
    tr.className = "sev-row-" + level;
    tr.dataset.host = h.host || h.ip || "";
    cell(tr, h.host);
    cell(tr, h.ip);
    const badge = document.createElement("span");
    badge.className = "sev sev-" + level;
    badge.textContent = h.severity;
    const td = document.createElement("td");
    td.appendChild(badge);
    tr.appendChild(td);
    cell(tr, typeof h.score === "number" ? h.score.toFixed(3) : h.score);
    cell(tr, h.reason ? h.reason : "no conclusion yet", "reason");
    cell(tr, h.last_observation || "");
    frag.appendChild(tr);
  }
  document.querySelector("#hosts tbody").replaceChildren(frag);
  document.getElementById("hosts-count").textContent = "(" + rows.length + ")";
}

// A report changes a host's row: reload the overview, at most once a second.
let hostsPending = false;
function hostsSoon() {
  if (hostsPending) return;
  hostsPending = true;
  setTimeout(() => { hostsPending = false; loadHosts(); }, 1000);
}

// ---- Profiles: what each subject has shown so far ------------------------

function measureText(m) {
  if (m.kind === "intensity") return m.name + " " + m.level;
  if (!m.top || !m.top.length) return "";
  return m.name + ": " + m.top.map(s => s.value + " " + Math.round(s.share * 100) + "%").join(", ");
}

async function loadProfiles() {
  let subjects;
  try { subjects = await getJSON("api/profiles?limit=200"); } catch (e) { return; }
  document.getElementById("profiles-section").hidden = false;
  const frag = document.createDocumentFragment();
  for (const s of subjects) {
    const tr = document.createElement("tr");
    cell(tr, s.engine);
    cell(tr, s.class);
    cell(tr, s.subject);
    cell(tr, s.events, "num");
    cell(tr, s.last_seen);
    cell(tr, (s.measures || []).map(measureText).filter(x => x).join("; "), "learnt");
    frag.appendChild(tr);
  }
  document.querySelector("#profiles tbody").replaceChildren(frag);
  document.getElementById("profiles-count").textContent = "(" + subjects.length + ")";
}

// ---- Responses: the resolver's decisions and why --------------------------

// loadResponses shows the newest decisions with their reasons; a decision
// in force has an undo button (POST api/responses/ID/undo).
async function loadResponses() {
  let rows;
  try { rows = await getJSON("api/responses?limit=100"); } catch (e) { return; }
  document.getElementById("responses-section").hidden = false;
  const frag = document.createDocumentFragment();
  for (const r of rows) {
    const tr = document.createElement("tr");
    tr.dataset.id = r.id;
    cell(tr, r.time);
    cell(tr, r.status, "status-" + String(r.status).replace(/[^a-z-]/g, ""));
    cell(tr, r.mode);
    cell(tr, r.policy);
    cell(tr, r.method);
    cell(tr, r.key);
    cell(tr, r.expires || "");
    cell(tr, r.reason, "reason");
    const td = document.createElement("td");
    if (r.in_force && mayOperate()) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = "undo";
      b.className = "undo";
      b.addEventListener("click", async () => {
        b.disabled = true;
        try {
          const resp = await fetch("api/responses/" + encodeURIComponent(r.id) + "/undo", { method: "POST", headers: { "X-CSRF-Token": session.csrf_token || "" } });
          if (!resp.ok) {
            const ans = await resp.json().catch(() => ({}));
            b.textContent = "undo failed";
            b.title = ans.error || String(resp.status);
          }
        } finally {
          loadResponses();
        }
      });
      td.appendChild(b);
    }
    tr.appendChild(td);
    frag.appendChild(tr);
  }
  document.querySelector("#responses tbody").replaceChildren(frag);
  document.getElementById("responses-count").textContent = "(" + rows.length + ")";
}

setInterval(loadResponses, 5000);
setInterval(loadTypeTable, 10000);
setInterval(loadHosts, 5000);
setInterval(loadTracks, 10000);
setInterval(loadProfiles, 10000);
loadSession().then(() => Promise.all([loadHierarchy(), loadHosts(), loadTracks(), loadTypeTable(), loadProfiles(), loadResponses(), load("api/reports?limit=50", addReport), load("api/events?limit=100", addEvent)]))
  .then(connect, (e) => console.warn("starting", e));

// The health banner: /healthz's conditions while the process is unhealthy
// (a full disk, a failing store or bus), hidden once they clear.
async function checkHealth() {
  const banner = document.getElementById("health");
  try {
    const resp = await fetch("/healthz");
    const h = await resp.json();
    const conds = h.conditions || [];
    if (h.status === "ok") {
      banner.hidden = true;
      return;
    }
    banner.textContent = "Unhealthy" + (conds.some((c) => c.blocks_input) ? ", new events are refused" : "") + ":\n" +
      (conds.length ? conds.map((c) => c.name + ": " + c.reason).join("\n") : h.error || "");
    banner.hidden = false;
  } catch (e) {
    banner.textContent = "Vigil does not answer: " + e.message;
    banner.hidden = false;
  }
}
checkHealth();
setInterval(checkHealth, 3000);

// ---- The monitor tree: this monitor, its children's health from their
// heartbeats (alive, stale, lost) and counters, and probes of a child: its
// status, and the evidence events behind one of its reports; among those,
// a report of the child's own child leads on to its evidence, the probe
// relayed through the child (and so on down). ------------------------------

const childNames = new Set();

// markReport makes the row of a REPORT event a drill-down to its evidence
// when a child of this monitor made it (its source): a probe fetches the
// events from the child's store.
function markReport(tr, ev) {
  if (ev.type !== "REPORT" || !ev.source) return;
  tr.dataset.report = ev.id;
  tr.dataset.child = ev.source;
  tr.classList.add("child-report");
  tr.title = "click: the evidence behind this report, from " + ev.source;
}

function onReportClick(e) {
  const tr = e.target.closest("tr.child-report");
  if (!tr || !childNames.has(tr.dataset.child)) return;
  probeEvidence(tr.dataset.child, tr.dataset.report);
}
document.querySelector("#events tbody").addEventListener("click", onReportClick);
document.querySelector("#evidence tbody").addEventListener("click", onReportClick);
document.querySelector("#probe-events tbody").addEventListener("click", (e) => {
  const tr = e.target.closest("tr.child-report");
  if (tr) probeEvidence(tr.dataset.child, tr.dataset.report, tr.dataset.via);
});

function healthCell(tr, state) {
  const td = cell(tr, "", "health-col");
  const span = document.createElement("span");
  span.className = "health-state health-" + (["alive", "stale", "lost", "unknown"].includes(state) ? state : "unknown");
  span.textContent = state;
  td.appendChild(span);
}

function counterCells(tr, c) {
  c = c || {};
  for (const k of ["events_in", "reports_out", "lag", "drops"]) cell(tr, c[k], "num");
}

async function loadHierarchy() {
  let h;
  try {
    const resp = await fetch("api/hierarchy");
    if (toLogin(resp) || !resp.ok) return;
    h = await resp.json();
  } catch (e) {
    return;
  }
  const self = h.self || {};
  // A monitor alone (no parent, peers or children) has no tree to show.
  document.getElementById("hierarchy-section").hidden = !((h.children || []).length || self.parent || (self.peers || []).length);
  document.getElementById("hier-self").textContent = "(" + [self.name + " · " + self.layer,
    self.parent ? "parent " + self.parent : "no parent",
    (self.peers || []).length ? "peers " + self.peers.join(", ") : ""].filter(Boolean).join(" · ") + ")";
  const tbody = document.querySelector("#monitors tbody");
  tbody.replaceChildren();
  const me = document.createElement("tr");
  me.className = "self";
  me.dataset.name = self.name;
  cell(me, self.name);
  cell(me, self.layer);
  cell(me, "this monitor");
  cell(me, "");
  cell(me, "", "num");
  counterCells(me, self.counters);
  tbody.appendChild(me);
  const order = { enterprise: 0, domain: 1, service: 2 };
  const kids = (h.children || []).slice().sort((a, b) =>
    ((order[a.layer] ?? 3) - (order[b.layer] ?? 3)) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  childNames.clear();
  for (const c of kids) {
    childNames.add(c.name);
    const tr = document.createElement("tr");
    tr.className = "child state-" + c.state;
    tr.dataset.name = c.name;
    tr.title = "click: probe " + c.name + " for its status";
    cell(tr, "└ " + c.name, "child-name");
    cell(tr, c.layer);
    healthCell(tr, c.state);
    cell(tr, c.last_seen || "never");
    cell(tr, c.missed, "num");
    counterCells(tr, c.counters);
    tbody.appendChild(tr);
  }
}

document.querySelector("#monitors tbody").addEventListener("click", (e) => {
  const tr = e.target.closest("tr.child");
  if (tr) probeStatus(tr.dataset.name);
});
document.getElementById("probe-close").addEventListener("click", () => {
  document.getElementById("probe").hidden = true;
});

// probe asks a child through this monitor (GET /api/probe) and shows what
// it answered, or why not.
async function probe(child, params, title) {
  const panel = document.getElementById("probe");
  panel.hidden = false;
  document.getElementById("probe-title").textContent = title;
  const status = document.getElementById("probe-status");
  status.textContent = "asking " + child + "…";
  document.getElementById("probe-children").hidden = true;
  document.getElementById("probe-events").hidden = true;
  let rep;
  try {
    const resp = await fetch("api/probe?" + q({ monitor: child, ...params }));
    if (toLogin(resp)) return null;
    rep = await resp.json();
  } catch (e) {
    status.textContent = child + " did not answer: " + e.message;
    return null;
  }
  if (rep.error) {
    status.textContent = rep.error;
    return null;
  }
  if (rep.status !== "ok") {
    status.textContent = child + ": " + rep.status + (rep.detail ? ": " + rep.detail : "");
    return null;
  }
  status.textContent = "";
  return rep.data || {};
}

async function probeStatus(child) {
  const d = await probe(child, { kind: "status" }, "status of " + child);
  if (!d) return;
  const c = d.counters || {};
  document.getElementById("probe-status").textContent = d.name + " (" + d.layer + ")" + (d.parent ? ", parent " + d.parent : "") +
    ": events in " + c.events_in + ", reports out " + c.reports_out + ", lag " + c.lag + ", drops " + c.drops + ", at " + d.time;
  const table = document.getElementById("probe-children");
  const tbody = table.querySelector("tbody");
  tbody.replaceChildren();
  for (const k of d.children || []) {
    const tr = document.createElement("tr");
    cell(tr, k.name);
    cell(tr, k.layer);
    healthCell(tr, k.state);
    cell(tr, k.last_seen || "never");
    cell(tr, (k.counters || {}).events_in, "num");
    tbody.appendChild(tr);
  }
  table.hidden = (d.children || []).length === 0;
}

// probeEvidence asks child for the evidence behind report, or, with a
// path (via: the monitors below the child, in order), the last monitor on
// it, through the child. A REPORT event among the evidence, made by a
// monitor below the one that answered, leads one hop further down.
async function probeEvidence(child, report, via) {
  const path = via ? via.split(",") : [];
  const from = path.length ? path[path.length - 1] + " through " + [child, ...path.slice(0, -1)].join(", ") : child;
  const params = { kind: "evidence", report };
  if (path.length) params.via = path.join(",");
  const d = await probe(child, params, "evidence of report " + report + " from " + from);
  if (!d) return;
  const evs = (d.events || []).slice().sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  const table = document.getElementById("probe-events");
  const tbody = table.querySelector("tbody");
  tbody.replaceChildren();
  for (const ev of evs) {
    const tr = document.createElement("tr");
    for (const v of [ev.time, ev.type, ev.host, ev.ip, ev.source]) cell(tr, v);
    cell(tr, attrsText(ev.attrs), "attrs");
    if (ev.type === "REPORT" && ev.source) {
      tr.classList.add("child-report");
      tr.dataset.child = child;
      tr.dataset.report = ev.id;
      tr.dataset.via = [...path, ev.source].join(",");
      tr.title = "click: the evidence behind this report, from " + ev.source + " through " + [child, ...path].join(", ");
    }
    tbody.appendChild(tr);
  }
  table.hidden = false;
  const notes = [evs.length + " events"];
  if ((d.missing || []).length) notes.push(d.missing.length + " no longer stored");
  if (d.truncated) notes.push("more than shown");
  document.getElementById("probe-status").textContent = notes.join(", ");
}

setInterval(loadHierarchy, 1000);
