// raftkv status page: polls /api/cluster every second and renders the
// members table, a throughput chart and recent leader changes. Plain
// browser JavaScript, no build step, no dependencies.
"use strict";

const POLL_MS = 1000;
const HISTORY = 120; // samples kept for the chart
const history = []; // {t, ops, writes}
let prev = null; // previous sample, for rates

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : String(c));
  return e;
}

function contact(m) {
  if (!m.reachable) return "—";
  if (m.role === "leader") return "leader";
  if (m.last_contact_ms < 0) return "never";
  return m.last_contact_ms < 1000 ? m.last_contact_ms + " ms" : (m.last_contact_ms / 1000).toFixed(1) + " s";
}

function renderMembers(view) {
  const body = document.querySelector("#members tbody");
  const maxCommit = Math.max(0, ...view.members.filter(m => m.reachable).map(m => m.commit_index));
  body.replaceChildren(...view.members.map(m => {
    let state;
    if (!m.reachable) state = el("span", {class: "badge bad", title: m.error || ""}, "down");
    else if (m.degraded) state = el("span", {class: "badge bad"}, "degraded");
    else state = el("span", {class: "badge ok"}, "healthy");
    const lag = m.reachable ? maxCommit - m.applied_index : "—";
    const cls = [m.role === "leader" ? "leader" : "", m.reachable ? "" : "down"].join(" ").trim();
    return el("tr", {"data-node": m.id, "data-role": m.reachable ? m.role : "down", class: cls},
      el("td", {}, m.id + (m.self ? " (this node)" : "")),
      el("td", {class: "role"}, m.reachable ? m.role : "unreachable"),
      el("td", {class: "num"}, m.reachable ? m.term : "—"),
      el("td", {class: "num"}, m.reachable ? m.last_log_index : "—"),
      el("td", {class: "num"}, m.reachable ? m.commit_index : "—"),
      el("td", {class: "num"}, m.reachable ? m.applied_index : "—"),
      el("td", {class: "num"}, lag),
      el("td", {}, contact(m)),
      el("td", {}, state),
      el("td", {}, m.grpc_addr || ""));
  }));
  const up = view.members.filter(m => m.reachable && !m.degraded).length;
  const voters = view.members.filter(m => m.voter).length;
  const quorum = Math.floor(voters / 2) + 1;
  const s = document.getElementById("summary");
  s.textContent = view.leader_id
    ? `leader ${view.leader_id} · ${up}/${view.members.length} healthy · tolerates ${Math.max(0, up - quorum)} more failure(s)`
    : `NO LEADER · ${up}/${view.members.length} healthy`;
  s.className = "pill " + (!view.leader_id ? "bad" : up < view.members.length ? "warn" : "ok");
  document.getElementById("seen-from").textContent = `(as seen from ${view.node})`;
  document.getElementById("updated").textContent = "updated " + new Date(view.time).toLocaleTimeString();
}

function renderLeaderChanges(view) {
  const ol = document.getElementById("leader-changes");
  const items = (view.leader_changes || []).slice().reverse().map(c =>
    el("li", {}, `${new Date(c.at).toLocaleTimeString()} — ${c.leader_id ? "leader " + c.leader_id : "leader lost"} (term ${c.term})`));
  ol.replaceChildren(...(items.length ? items : [el("li", {}, "none seen")]));
}

function sample(view) {
  const t = Date.parse(view.time);
  const commit = Math.max(0, ...view.members.filter(m => m.reachable).map(m => m.commit_index));
  if (prev && t > prev.t) {
    const dt = (t - prev.t) / 1000;
    history.push({t, ops: Math.max(0, view.kv_requests_total - prev.ops) / dt, writes: Math.max(0, commit - prev.commit) / dt});
    if (history.length > HISTORY) history.shift();
  }
  prev = {t, ops: view.kv_requests_total, commit};
}

function renderChart() {
  const c = document.getElementById("chart");
  const g = c.getContext("2d");
  const W = c.width, H = c.height, pad = 30;
  g.clearRect(0, 0, W, H);
  const max = Math.max(1, ...history.map(h => Math.max(h.ops, h.writes)));
  g.fillStyle = "#7a8291";
  g.font = "11px sans-serif";
  g.fillText(max.toFixed(max < 10 ? 1 : 0) + "/s", 2, 12);
  g.fillText("0", 2, H - 4);
  for (const [key, color] of [["ops", "#2b6cb0"], ["writes", "#c05621"]]) {
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    history.forEach((h, i) => {
      const x = pad + (W - pad - 4) * (i / (HISTORY - 1));
      const y = H - 6 - (H - 18) * (h[key] / max);
      i ? g.lineTo(x, y) : g.moveTo(x, y);
    });
    g.stroke();
  }
}

async function poll() {
  try {
    const r = await fetch("/api/cluster", {cache: "no-store"});
    if (!r.ok) throw new Error(r.status + " " + r.statusText);
    const view = await r.json();
    renderMembers(view);
    renderLeaderChanges(view);
    sample(view);
    renderChart();
    document.body.dataset.loaded = "true";
  } catch (e) {
    const s = document.getElementById("summary");
    s.textContent = "cannot reach this node: " + e.message;
    s.className = "pill bad";
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
