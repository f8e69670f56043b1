// Vigil live page. Every value shown comes from hosts or the network and is
// placed with textContent only: nothing received is ever parsed as HTML.
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
}

function addEvent(ev, atEnd) {
  addRow("events", ev.id, [ev.time, ev.type, ev.host, ev.ip, ev.source, [attrsText(ev.attrs), "attrs"]], atEnd);
}

function addReport(r, atEnd) {
  const badge = document.createElement("span");
  const level = ["green", "yellow", "red"].includes(r.severity) ? r.severity : "green";
  badge.className = "sev sev-" + level;
  badge.textContent = r.severity;
  const score = typeof r.score === "number" ? r.score.toFixed(3) : r.score;
  addRow("reports", r.id, [r.time, r.monitor, r.engine, r.model, r.host, r.ip, score, badge, r.state, [r.explanation, "expl"]], atEnd);
}

async function load(path, add) {
  try {
    const resp = await fetch(path);
    if (!resp.ok) return;
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
  es.onerror = () => { status.textContent = "reconnecting…"; status.className = "status down"; };
  es.addEventListener("event", m => { recent++; addEvent(JSON.parse(m.data), false); });
  es.addEventListener("report", m => addReport(JSON.parse(m.data), false));
}

setInterval(() => {
  document.getElementById("rate").textContent = recent + " events/s";
  recent = 0;
}, 1000);

Promise.all([load("api/reports?limit=50", addReport), load("api/events?limit=100", addEvent)]).then(connect);
