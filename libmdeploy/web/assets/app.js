/* mdeploy console: pages over the JSON API (/api/, see mdeploy-serve(1)).
 * No framework: views are built with DOM calls (never innerHTML with data),
 * re-rendered when /api/events says what they show changed. */
"use strict";

const S = { me: null, refreshing: false, again: false, events: null, openLogs: new Set(), follow: false };

/* ---- small helpers ---- */
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}
const badge = (s) => h("span", { class: "badge s-" + String(s).replace(/[^A-Za-z]/g, "") }, s);
const when = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : "-");
const whenS = (s) => when(s * 1000);
function dur(a, b) {
  if (!a) return "-";
  const ms = (b || Date.now()) - a;
  if (ms < 1000) return ms + " ms";
  const s = Math.round(ms / 1000);
  return s < 60 ? s + " s" : Math.floor(s / 60) + " min " + (s % 60) + " s";
}
const short = (id) => String(id || "").slice(0, 8);
function say(msg) { document.getElementById("live").textContent = msg || ""; }

class ApiError extends Error { constructor(status, msg) { super(msg); this.status = status; } }

async function api(path, opts) {
  const o = Object.assign({ credentials: "same-origin", headers: {} }, opts || {});
  if (o.body !== undefined) {
    o.method = o.method || "POST";
    o.headers["Content-Type"] = "application/json";
    if (S.me) o.headers["X-CSRF-Token"] = S.me.csrf;
    o.body = JSON.stringify(o.body);
  }
  const r = await fetch(path, o);
  let doc = null;
  try { doc = await r.json(); } catch (e) { doc = null; }
  if (r.status === 401 && path !== "/api/login") { showLogin(); throw new ApiError(401, "signed out"); }
  if (!r.ok) throw new ApiError(r.status, (doc && doc.error) || r.statusText);
  return doc;
}

/* ---- sign in ---- */
function showLogin() {
  S.me = null;
  if (S.events) { S.events.close(); S.events = null; }
  document.getElementById("nav").hidden = true;
  document.getElementById("who").hidden = true;
  document.getElementById("view").replaceChildren();
  document.getElementById("login").hidden = false;
  document.getElementById("token").focus();
}

async function start() {
  try {
    S.me = await api("/api/session");
  } catch (e) {
    if (e.status !== 401) say("cannot reach the console: " + e.message);
    return;
  }
  document.getElementById("login").hidden = true;
  document.getElementById("nav").hidden = false;
  document.getElementById("who").hidden = false;
  document.getElementById("who-name").textContent = S.me.name + (S.me.read_only ? " (read-only)" : "");
  /* Signed in by the reverse proxy: signing out is the proxy's business. */
  document.getElementById("logout").hidden = S.me.via === "proxy";
  listen();
  route();
}

document.getElementById("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = document.getElementById("token"), err = document.getElementById("login-error");
  err.textContent = "";
  try {
    await api("/api/login", { body: { token: input.value.trim() } });
    input.value = "";
    start();
  } catch (e) {
    err.textContent = "Sign-in refused: " + e.message;
  }
});
document.getElementById("logout").addEventListener("click", async () => {
  try { await api("/api/logout", { body: {} }); } catch (e) { /* signed out anyway */ }
  showLogin();
});

/* ---- live updates ---- */
function listen() {
  if (S.events || !window.EventSource) return;
  S.events = new EventSource("/api/events");
  S.events.addEventListener("change", () => refresh());
  S.events.onerror = () => { /* EventSource reconnects by itself */ };
}
setInterval(() => { if (S.me && (!S.events || S.events.readyState !== 1)) refresh(); }, 5000);
/* An open log of a running action: follow it. */
setInterval(() => { if (S.me && S.follow && /^#\/executions\//.test(location.hash)) refresh(); }, 2000);

async function refresh() {
  if (!S.me) return;
  if (S.refreshing) { S.again = true; return; }
  S.refreshing = true;
  try { await render(); } finally {
    S.refreshing = false;
    if (S.again) { S.again = false; refresh(); }
  }
}

/* ---- routing ---- */
const routes = [
  [/^#?\/?$/, viewOverview],
  [/^#\/executions$/, viewExecutions],
  [/^#\/pipelines\/([A-Za-z0-9._-]+)$/, viewPipeline],
  [/^#\/executions\/([0-9a-f-]+)$/, viewExecution],
  [/^#\/deployments$/, viewDeployments],
  [/^#\/deployments\/([A-Za-z0-9-]+)$/, viewDeployment],
  [/^#\/groups\/([A-Za-z0-9._-]+)$/, viewGroup],
  [/^#\/fleets$/, viewFleets],
  [/^#\/audit$/, viewAudit],
];
window.addEventListener("hashchange", () => { S.openLogs.clear(); S.follow = false; route(); });
function route() {
  const part = (location.hash || "#/").split("/")[1] || "";
  const section = "#/" + (part === "pipelines" ? "executions" :
    ["executions", "deployments", "fleets", "audit"].includes(part) ? part : "");
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  refresh().then(() => document.getElementById("main").focus({ preventScroll: true }));
}
async function render() {
  const hash = location.hash || "#/";
  for (const [re, fn] of routes) {
    const m = hash.match(re);
    if (!m) continue;
    let content;
    try { content = await fn(...m.slice(1)); } catch (e) {
      if (e.status === 401) return;
      content = h("p", { class: "error", role: "alert" }, "Cannot show this page: " + e.message);
    }
    const view = document.getElementById("view");
    const focused = document.activeElement && document.activeElement.id;
    const typed = [...view.querySelectorAll("textarea")].map((t) => [t.id, t.value]);
    view.replaceChildren(content);
    for (const [id, v] of typed) { const t = document.getElementById(id); if (t) t.value = v; }
    if (focused) { const f = document.getElementById(focused); if (f && view.contains(f)) f.focus(); }
    return;
  }
  document.getElementById("view").replaceChildren(h("h1", {}, "Not found"));
}

/* ---- actions ---- */
async function act(button, path, body, done) {
  button.disabled = true;
  say("Working…");
  try {
    await api(path, { body });
    say(done);
  } catch (e) {
    say("Refused: " + e.message);
  } finally {
    button.disabled = false;
    refresh();
  }
}
const canWrite = () => S.me && !S.me.read_only;

function approvalForm(a, key) {
  const id = "comment-" + key;
  const approve = h("button", { type: "button", class: "primary", "data-testid": "approve" }, "Approve");
  const reject = h("button", { type: "button", class: "danger", "data-testid": "reject" }, "Reject");
  const box = h("textarea", { id, name: "comment", placeholder: "Why (recorded with the decision)" });
  approve.addEventListener("click", () => act(approve, `/api/executions/${a.execution}/approve`,
    { action: a.action, comment: box.value }, `Approved ${a.action}`));
  reject.addEventListener("click", () => act(reject, `/api/executions/${a.execution}/reject`,
    { action: a.action, comment: box.value }, `Rejected ${a.action}`));
  if (!canWrite()) { approve.disabled = reject.disabled = true; }
  return h("div", { class: "approval" }, h("label", { for: id }, "Comment"), box,
    h("div", { class: "actions" }, approve, reject),
    canWrite() ? null : h("p", { class: "muted" }, "Your token is read-only: it cannot decide."));
}

/* ---- views ---- */
async function viewOverview() {
  const [ap, ex, gr] = await Promise.all([api("/api/approvals"), api("/api/executions?limit=10"),
    api("/api/groups").catch((e) => ({ error: e.message, groups: [] }))]);
  return h("div", {}, h("h1", {}, "Overview"),
    h("section", { "aria-labelledby": "ap-h" }, h("h2", { id: "ap-h" }, "Approvals waiting (" + ap.approvals.length + ")"),
      ap.approvals.length ? ap.approvals.map((a, i) => h("div", { class: "panel", "data-testid": "approval" },
        h("h3", {}, a.pipeline + ": " + a.action),
        h("p", {}, a.summary || ""),
        h("p", { class: "muted" }, "Execution ", h("a", { href: "#/executions/" + a.execution }, short(a.execution)),
          a.revision ? " for " + a.revision : "", ", waiting since " + when(a.started_at),
          a.deadline ? ", until " + when(a.deadline) : ""),
        approvalForm(a, "o" + i))) : h("p", { class: "muted" }, "Nothing waits for a decision.")),
    h("section", { "aria-labelledby": "gr-h" }, h("h2", { id: "gr-h" }, "Deployment groups"),
      gr.error ? h("p", { class: "error" }, gr.error) :
      h("div", { class: "grid" }, gr.groups.map(groupCard))),
    h("section", { "aria-labelledby": "ex-h" }, h("h2", { id: "ex-h" }, "Recent executions"), execTable(ex.executions)));
}

function weightsBar(traffic) {
  const fleets = (traffic && traffic.fleets) || [];
  if (!traffic || !traffic.running) return h("p", { class: "muted" }, "Load balancer not running.");
  const bar = h("div", { class: "weights", role: "img", "data-testid": "weights",
    "aria-label": "Traffic: " + fleets.map((f) => f.fleet + " " + f.percent + "%").join(", ") });
  for (const f of fleets) {
    const d = h("div", { title: f.fleet + ": " + f.percent + "%" }, f.percent >= 12 ? f.percent + "%" : "");
    d.style.width = f.percent + "%";
    bar.append(d);
  }
  return h("div", {}, bar, h("ul", { class: "muted" }, fleets.map((f) => h("li", { "data-testid": "fleet-weight" },
    `${f.fleet}: ${f.percent}% (weight ${f.weight}, ${f.up}/${f.targets} up, ${f.responses_5xx} 5xx of ${f.responses_total})`))));
}

/* Who created a deployment and what it deployed (records from before mdeploy
 * kept these say "not recorded"). */
function origin(d, testid) {
  const sig = d.bundle_key_id ? "key " + d.bundle_key_id : d.bundle_sha256 ? "unsigned" : "not recorded";
  return [h("dt", {}, "By"), h("dd", { "data-testid": testid + "-by" }, d.created_by || "not recorded"),
    h("dt", {}, "Bundle SHA-256"), h("dd", {}, h("code", { class: "digest", "data-testid": testid + "-sha256" },
      d.bundle_sha256 || "not recorded")),
    h("dt", {}, "Signed by"), h("dd", { "data-testid": testid + "-key" }, sig)];
}

function groupCard(g) {
  const live = g.live;
  return h("div", { class: "panel" }, h("h3", {}, h("a", { href: "#/groups/" + g.name }, g.name), " ",
      g.stopped ? badge("Stopped") : null),
    h("dl", { class: "kv" }, h("dt", {}, "Strategy"), h("dd", {}, g.strategy),
      h("dt", {}, "Live"), h("dd", {}, live ? h("a", { href: "#/deployments/" + live.id }, live.id) : "nothing yet"),
      live ? [h("dt", {}, "Since"), h("dd", {}, whenS(live.completed_at)),
        h("dt", {}, "By"), h("dd", {}, live.created_by || "not recorded"),
        h("dt", {}, "SHA-256"), h("dd", {}, h("code", { title: live.bundle_sha256 || "" },
          live.bundle_sha256 ? live.bundle_sha256.slice(0, 12) : "not recorded"))] : null),
    weightsBar(g.traffic));
}

function execTable(rows) {
  if (!rows.length) return h("p", { class: "muted" }, "No executions yet.");
  return h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, ["Execution", "Pipeline", "Status",
      "Started", "Duration", "Trigger"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map((e) => h("tr", {}, h("td", {}, h("a", { href: "#/executions/" + e.id }, short(e.id))),
      h("td", {}, e.pipeline), h("td", {}, badge(e.status), e.current_stage ? " " + e.current_stage : ""),
      h("td", {}, when(e.created_at)), h("td", {}, dur(e.created_at, e.completed_at)),
      h("td", { class: "hide-narrow" }, e.trigger + (e.revision ? " " + e.revision : "")))))));
}

async function viewExecutions() {
  const [pl, ex] = await Promise.all([api("/api/pipelines"), api("/api/executions?limit=50")]);
  return h("div", {}, h("h1", {}, "Executions"),
    h("section", { "aria-labelledby": "pl-h" }, h("h2", { id: "pl-h" }, "Pipelines"),
      pl.pipelines.length ? h("ul", {}, pl.pipelines.map((p) => h("li", {},
        h("a", { href: "#/pipelines/" + p.name }, p.name), " ", badge(p.latest.status), " ",
        h("span", { class: "muted" }, "last run " + when(p.latest.created_at))))) : h("p", { class: "muted" }, "No runs yet.")),
    h("section", { "aria-labelledby": "all-h" }, h("h2", { id: "all-h" }, "All executions"), execTable(ex.executions)));
}

async function viewPipeline(name) {
  const ex = await api("/api/executions?limit=50&pipeline=" + encodeURIComponent(name));
  return h("div", {}, h("h1", {}, "Pipeline ", name), execTable(ex.executions));
}

async function logBlock(e, a) {
  const key = a.stage + "/" + a.action;
  const det = h("details", { "data-testid": "log" }, h("summary", {}, "Output"));
  if (S.openLogs.has(key)) {
    det.open = true;
    if (a.status === "InProgress") S.follow = true; /* the output grows without a store change */
    try {
      const l = await api(`/api/executions/${e.id}/log?action=${encodeURIComponent(key)}&tail=8192`);
      det.append(h("pre", { class: "log", tabindex: "0" }, (l.truncated ? "…" : "") + (l.log || "(no output)")));
    } catch (err) { det.append(h("p", { class: "error" }, err.message)); }
  }
  det.addEventListener("toggle", () => {
    if (det.open === S.openLogs.has(key)) return;
    if (det.open) S.openLogs.add(key); else S.openLogs.delete(key);
    refresh();
  });
  return det;
}

async function viewExecution(id) {
  const e = await api("/api/executions/" + id);
  S.follow = false;
  const stages = [];
  for (const a of e.actions || []) {
    let st = stages.find((s) => s.name === a.stage);
    if (!st) stages.push(st = { name: a.stage, actions: [] });
    st.actions.push(a);
  }
  const blocks = [];
  let i = 0;
  for (const st of stages) {
    const acts = [];
    for (const a of st.actions) {
      const waiting = a.type === "approval" && a.status === "Waiting";
      acts.push(h("div", { class: "action", "data-testid": "action", "data-action": a.stage + "/" + a.action },
        h("div", {}, h("strong", {}, a.action), " ", h("span", { class: "muted" }, a.type), " ", badge(a.status)),
        h("div", { class: "muted" }, a.started_at ? "started " + when(a.started_at) + ", " + dur(a.started_at, a.finished_at) : "not started"),
        a.summary ? h("div", {}, a.summary) : null,
        a.error ? h("div", { class: "error" }, a.error) : null,
        a.comment ? h("div", {}, "Comment: " + a.comment) : null,
        Object.keys(a.artifacts || {}).length ? h("div", { class: "muted" }, "Artifacts: " +
          Object.entries(a.artifacts).map(([k, v]) => k + " " + String(v).slice(0, 12)).join(", ")) : null,
        waiting ? approvalForm({ execution: e.id, action: a.stage + "/" + a.action }, "x" + (i++)) : null,
        a.log || (a.type === "shell" && a.started_at) ? await logBlock(e, a) : null));
    }
    blocks.push(h("section", { class: "stage", "aria-label": "Stage " + st.name },
      h("h3", {}, st.name, " ", badge(stageStatus(st.actions))), acts));
  }
  return h("div", {}, h("h1", {}, "Execution ", h("code", {}, short(e.id)), " of ", e.pipeline),
    h("dl", { class: "kv" }, h("dt", {}, "Status"), h("dd", { "data-testid": "exec-status" }, badge(e.status)),
      h("dt", {}, "Started"), h("dd", {}, when(e.created_at)),
      h("dt", {}, "Duration"), h("dd", {}, dur(e.created_at, e.completed_at)),
      h("dt", {}, "Trigger"), h("dd", {}, e.trigger + (e.revision ? " " + e.revision : "")),
      e.error ? [h("dt", {}, "Error"), h("dd", { class: "error" }, e.error)] : null),
    h("div", { class: "stages" }, blocks));
}
function stageStatus(acts) {
  const s = acts.map((a) => a.status);
  for (const k of ["Failed", "Waiting", "InProgress", "Abandoned"]) if (s.includes(k)) return k;
  if (s.every((x) => x === "Succeeded" || x === "Skipped")) return "Succeeded";
  return s.includes("Succeeded") ? "InProgress" : "Pending";
}

/* A deployment nobody runs any more (killed, crashed) says so, as `deploy status` does. */
function shownStatus(d) { return d.interrupted ? "Interrupted" : d.status; }

function deployTable(rows) {
  if (!rows.length) return h("p", { class: "muted" }, "No deployments yet.");
  return h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, ["Deployment", "Group", "Status",
      "Created", "Duration", "By"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map((d) => h("tr", {}, h("td", {}, h("a", { href: "#/deployments/" + d.id }, d.id)),
      h("td", {}, h("a", { href: "#/groups/" + d.group }, d.group)), h("td", {}, badge(shownStatus(d))),
      h("td", {}, whenS(d.created_at)), h("td", {}, d.completed_at ? (d.completed_at - d.created_at) + " s" : "-"),
      h("td", { class: "hide-narrow" }, d.created_by || "-"))))));
}

async function viewDeployments() {
  const d = await api("/api/deployments?limit=50");
  return h("div", {}, h("h1", {}, "Deployments"), deployTable(d.deployments));
}

function stopButtons(d) {
  if (!canWrite() || ["Succeeded", "Failed", "Stopped", "RolledBack"].includes(d.status)) return null;
  const stop = h("button", { type: "button" }, "Stop");
  const stopRb = h("button", { type: "button", class: "danger" }, "Stop and roll back");
  stop.addEventListener("click", () => confirm(`Stop deployment ${d.id}?`) &&
    act(stop, `/api/deployments/${d.id}/stop`, { rollback: false }, `Deployment ${d.id} stopped`));
  stopRb.addEventListener("click", () => confirm(`Stop deployment ${d.id} and send traffic back to the old fleet?`) &&
    act(stopRb, `/api/deployments/${d.id}/stop`, { rollback: true }, `Deployment ${d.id} stopped and rolled back`));
  return h("div", { class: "actions" }, stop, stopRb);
}

async function viewDeployment(id) {
  const d = await api("/api/deployments/" + id);
  let traffic = null;
  try { traffic = (await api("/api/groups/" + d.group)).traffic; } catch (e) { traffic = null; }
  return h("div", {}, h("h1", {}, "Deployment ", h("code", {}, d.id)),
    h("dl", { class: "kv" }, h("dt", {}, "Group"), h("dd", {}, h("a", { href: "#/groups/" + d.group }, d.group)),
      h("dt", {}, "Status"), h("dd", { "data-testid": "dep-status" }, badge(shownStatus(d)),
        d.interrupted ? " at step " + d.interrupted_at + ": its process is gone (resume or stop it)" : null),
      h("dt", {}, "Strategy"), h("dd", {}, d.strategy || "-"),
      h("dt", {}, "Bundle"), h("dd", {}, d.bundle || "-"),
      origin(d, "dep"),
      h("dt", {}, "Fleets"), h("dd", {}, (d.blue_fleet || "-") + " → " + (d.green_fleet || "-")),
      h("dt", {}, "Created"), h("dd", {}, whenS(d.created_at)),
      d.error ? [h("dt", {}, "Error"), h("dd", { class: "error" }, d.error)] : null),
    stopButtons(d),
    h("h2", {}, "Traffic now"), weightsBar(traffic),
    h("h2", {}, "Journal"),
    h("ol", { class: "timeline", "data-testid": "journal" }, d.steps.map((s) => h("li", { class: "st-" + s.state },
      h("strong", {}, s.step), s.target ? " " + s.target : "", " ", badge(s.state), " ",
      h("span", { class: "muted" }, when(s.started_at_ms) + (s.finished_at_ms ? ", " + dur(s.started_at_ms, s.finished_at_ms) : "")),
      s.error ? h("div", { class: "error" }, s.error) : null))));
}

async function viewGroup(name) {
  const g = await api("/api/groups/" + name);
  const running = g.history.find((d) => !["Succeeded", "Failed", "Stopped", "RolledBack"].includes(d.status));
  let rb = null;
  if (canWrite()) {
    rb = h("button", { type: "button", class: "danger", "data-testid": "rollback" }, "Roll back");
    rb.addEventListener("click", () => confirm(`Roll ${g.name} back to its previous release?`) &&
      act(rb, `/api/groups/${g.name}/rollback`, {}, `Group ${g.name} rolled back`));
  }
  const t = g.traffic || { targets: [] };
  return h("div", {}, h("h1", {}, "Group ", g.name),
    h("dl", { class: "kv" }, h("dt", {}, "Strategy"), h("dd", {}, g.strategy),
      h("dt", {}, "Load balancer"), h("dd", {}, g.lb + (t.bind ? " on " + t.bind : "")),
      h("dt", {}, "Live release"), h("dd", { "data-testid": "live" }, g.live ? h("a", { href: "#/deployments/" + g.live.id }, g.live.id) : "none"),
      g.live ? [h("dt", {}, "Revision"), h("dd", {}, g.live.revision || g.live.bundle || "-"),
        ...origin(g.live, "live"),
        h("dt", {}, "Since"), h("dd", {}, whenS(g.live.completed_at))] : null,
      g.retained ? [h("dt", {}, "Retained"), h("dd", {}, g.retained.fleet + " until " + when(g.retained.expires_at_ms))] : null),
    running ? h("div", { class: "panel" }, h("h2", {}, "In progress: ", h("a", { href: "#/deployments/" + running.id }, running.id)),
      stopButtons(running)) : null,
    h("h2", {}, "Traffic"), weightsBar(t),
    t.targets.length ? h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, ["Instance", "Fleet", "Weight",
        "State", "Health", "5xx"].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, t.targets.map((x) => h("tr", {}, h("td", {}, x.instance), h("td", {}, x.fleet), h("td", {}, x.weight),
        h("td", {}, x.state), h("td", {}, badge(x.health)), h("td", {}, x.responses_5xx + " / " + x.responses_total)))))) : null,
    rb ? h("div", { class: "actions" }, rb) : null,
    h("h2", {}, "History"), deployTable(g.history));
}

async function viewFleets() {
  const f = await api("/api/fleets");
  const details = await Promise.all(f.fleets.map((x) => api("/api/fleets/" + x.name).catch(() => x)));
  return h("div", {}, h("h1", {}, "Fleets"), f.fleets.length ? null : h("p", { class: "muted" }, "No fleets."),
    details.map((x) => h("section", { class: "panel" }, h("h2", {}, x.name, " ", h("span", { class: "muted" }, x.role)),
      h("p", {}, `desired ${x.desired} (min ${x.min}, max ${x.max}), ${x.running} running, port ${x.port}`),
      (x.instances || []).length ? h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {},
          ["Instance", "Address", "State", "Since"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, x.instances.map((i) => h("tr", {}, h("td", {}, i.id), h("td", {}, i.address + ":" + i.port),
          h("td", {}, badge(i.state)), h("td", {}, whenS(i.created_at))))))) : null)));
}

async function viewAudit() {
  const a = await api("/api/audit?limit=200");
  return h("div", {}, h("h1", {}, "Audit trail"), a.audit.length ? h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, ["When", "Who", "Action", "Target", "Outcome", "Detail"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, a.audit.map((e) => h("tr", {}, h("td", {}, when(e.at)), h("td", {}, e.who), h("td", {}, e.action),
      h("td", {}, e.target), h("td", {}, badge(e.outcome)), h("td", {}, e.detail || "")))))) :
    h("p", { class: "muted" }, "No decisions yet."));
}

start();
