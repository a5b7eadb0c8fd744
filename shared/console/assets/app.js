// layerscan console: framework-free. Every value from the API is put in
// the page as text (h() never parses HTML): findings carry text an image
// chose, and the page must not run it.
"use strict";

const CATS = [
  ["system-vulnerability", "Image System Vulnerabilities"],
  ["application-vulnerability", "Application Vulnerabilities"],
  ["baseline", "Baseline Risks"],
  ["malicious-sample", "Malicious Samples"],
  ["sensitive-file", "Sensitive Files"],
  ["build-instruction", "Build-Instruction Risks"],
];
// The seed's order: Unknown, Low, Medium, High, Critical (toggled).
const SEVS = ["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"];
const PAGE = 20;

const state = { key: sessionStorage.getItem("layerscan-key") || "", me: null };

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}
const $ = (s) => document.querySelector(s);
const main = () => $("#main");
function show(...nodes) { main().replaceChildren(...nodes.flat(2).filter((n) => n !== null && n !== undefined && n !== false)); }

async function api(method, path, body, headers) {
  const init = { method, headers: Object.assign({ Authorization: "Bearer " + state.key }, headers || {}) };
  if (body !== undefined) { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
  const resp = await fetch(path, init);
  let json = null;
  const text = await resp.text();
  try { json = text ? JSON.parse(text) : null; } catch { json = { error: text }; }
  if (resp.status === 401) { signOut(); throw new Error("the key was refused"); }
  return { status: resp.status, json, etag: resp.headers.get("ETag"), task: resp.headers.get("Layerscan-Task"), ok: resp.ok };
}

// Buttons that change something carry data-needs; a key without the
// permission sees them disabled, with why.
function gate(el, need) {
  const can = state.me && state.me.can;
  const ok = need === "scan" ? can.scan : need === "fix" ? can.fix : can.manage;
  if (!ok) { el.disabled = true; el.title = "Your role (" + state.me.role + ") cannot change anything here"; }
  return el;
}
function button(label, need, onclick, cls) {
  const b = h("button", { type: "button", class: cls, onclick, "data-needs": need }, label);
  return need ? gate(b, need) : b;
}
function sev(s) { return h("span", { class: "sev sev-" + s }, s.charAt(0) + s.slice(1).toLowerCase()); }
function fail(where, r) { return h("p", { class: "error", role: "alert" }, where + ": " + ((r.json && r.json.error) || r.status)); }
function dialog(...nodes) {
  const d = $("#dialog");
  $("#dialog-body").replaceChildren(...nodes.flat(2).filter((n) => n !== null && n !== undefined && n !== false), h("div", { class: "row" }, h("button", { type: "button", onclick: () => d.close() }, "Close")));
  if (!d.open) d.showModal();
}

// ---- sign-in ----
function signOut() { sessionStorage.removeItem("layerscan-key"); state.key = ""; state.me = null; route(); }
function signIn() {
  $("#nav").hidden = true; $("#who").textContent = "";
  const input = h("input", { type: "password", id: "api-key", placeholder: "lsk_…", size: 44, autocomplete: "off" });
  const msg = h("p", { class: "error", id: "signin-error" });
  const form = h("form", { class: "card signin", onsubmit: async (e) => {
    e.preventDefault();
    state.key = input.value.trim();
    const r = await fetch("/v1/whoami", { headers: { Authorization: "Bearer " + state.key } });
    if (!r.ok) { msg.textContent = "This key is not accepted."; state.key = ""; return; }
    sessionStorage.setItem("layerscan-key", state.key);
    route();
  } }, h("h1", {}, "Sign in"), h("p", { class: "muted" }, "Sign in with an API key (layerscan keys create). A viewer key sees every page and changes nothing."),
    h("label", { class: "block" }, h("span", {}, "API key"), input), h("button", { class: "primary", type: "submit", id: "signin" }, "Sign in"), msg);
  show(form);
}

// ---- Container Image Scan ----
const riskView = { cat: "system-vulnerability", severity: "", repository: "", q: "", asc: false, offset: 0, cluster: "", namespace: "", workload: "" };

async function risks() {
  const v = riskView;
  const qs = new URLSearchParams({ category: v.cat, severity: v.severity, repository: v.repository, q: v.q, order: v.asc ? "asc" : "desc", offset: v.offset, limit: PAGE, cluster: v.cluster, namespace: v.namespace, workload: v.workload });
  const r = await api("GET", "/v1/risks?" + qs);
  if (!r.ok) return show(fail("risks", r));
  const d = r.json;
  const stats = h("div", { class: "grid", id: "risk-counts" }, CATS.map(([c, name]) => {
    const counts = d.counts[c] || {};
    const total = SEVS.reduce((a, s) => a + (counts[s] || 0), 0);
    return h("div", { class: "stat" + (c === v.cat ? " active" : ""), "data-category": c, onclick: () => { v.cat = c; v.offset = 0; risks(); } },
      h("div", { class: "name" }, name), h("div", { class: "total", "data-total": total }, total),
      h("div", { class: "sevs" }, SEVS.slice().reverse().map((s) => h("span", {}, s.charAt(0) + s.slice(1).toLowerCase() + " " + (counts[s] || 0)))));
  }));
  const tabs = h("div", { class: "tabs", role: "tablist" }, CATS.map(([c, name]) =>
    h("button", { type: "button", role: "tab", class: c === v.cat ? "active" : "", "data-tab": c, onclick: () => { v.cat = c; v.offset = 0; risks(); } }, name)));
  const repo = h("input", { id: "f-repository", placeholder: "repository", value: v.repository });
  const text = h("input", { id: "f-text", placeholder: "ID, title, package, path", value: v.q });
  const sevSel = h("select", { id: "f-severity" }, h("option", { value: "" }, "every severity"), SEVS.map((s) => h("option", { value: s, selected: s === v.severity }, s)));
  const cluster = h("input", { id: "f-cluster", placeholder: "cluster", value: v.cluster, size: 10 });
  const ns = h("input", { id: "f-namespace", placeholder: "namespace", value: v.namespace, size: 10 });
  const wl = h("input", { id: "f-workload", placeholder: "Kind/name", value: v.workload, size: 14 });
  const apply = () => { v.repository = repo.value.trim(); v.q = text.value.trim(); v.severity = sevSel.value; v.cluster = cluster.value.trim(); v.namespace = ns.value.trim(); v.workload = wl.value.trim(); v.offset = 0; risks(); };
  const filters = h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); apply(); } }, repo, sevSel, text, cluster, ns, wl, h("button", { type: "submit" }, "Filter"),
    h("button", { type: "button", id: "sort-toggle", onclick: () => { v.asc = !v.asc; v.offset = 0; risks(); } }, "Severity " + (v.asc ? "↑ Unknown first" : "↓ Critical first")));
  const rows = d.rows.map((row) => h("tr", { class: "clickable", "data-id": row.id, onclick: () => riskDetail(row) },
    h("td", {}, sev(row.severity)), h("td", { class: "mono" }, row.id), h("td", {}, row.title), h("td", {}, row.package || ""),
    h("td", { class: "num" }, row.images), h("td", {}, row.fixable || "")));
  const table = h("table", { id: "risk-table" }, h("thead", {}, h("tr", {}, h("th", {}, "Severity"), h("th", {}, "ID"), h("th", {}, "Title"), h("th", {}, "Package"), h("th", { class: "num" }, "Images"), h("th", {}, "Fixable"))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No risks of this type."))));
  show(h("h1", {}, "Container Image Scan"), h("p", { class: "muted" }, d.images + " image(s) · whitelisted findings are not counted"), stats, h("div", { class: "card" }, tabs, filters, table, pager(d.total, v.offset, (o) => { v.offset = o; risks(); })));
}

function pager(total, offset, go) {
  const pages = Math.max(1, Math.ceil(total / PAGE)), page = Math.floor(offset / PAGE) + 1;
  return h("div", { class: "pager" }, h("button", { type: "button", disabled: offset === 0, onclick: () => go(offset - PAGE) }, "‹ Previous"),
    h("span", { id: "page-info" }, "Page " + page + " of " + pages + " · " + total + " row(s)"),
    h("button", { type: "button", disabled: offset + PAGE >= total, onclick: () => go(offset + PAGE) }, "Next ›"));
}

async function riskDetail(row) {
  const r = await api("GET", "/v1/risks/" + encodeURIComponent(row.category) + "/" + encodeURIComponent(row.id) + "?package=" + encodeURIComponent(row.package || ""));
  if (!r.ok) return dialog(fail("finding", r));
  const f = r.json.finding;
  const wl = async (repository) => {
    const vuln = f.category === "system-vulnerability" || f.category === "application-vulnerability";
    const rule = vuln ? { type: "vulnerability", vulnerabilities: [f.id], note: "accepted in the console" } : { type: "file", category: f.category, alertID: f.id, note: "accepted in the console" };
    if (repository) rule.repositories = [repository];
    const w = await api("POST", "/v1/whitelists", rule);
    if (!w.ok) return dialog(fail("whitelist", w));
    // The service re-reports the stored images under the new whitelist
    // (a re-match task, named in the answer): the counts follow when it ends.
    const note = h("p", { class: "muted" }, "Re-reporting the stored images…");
    dialog(h("p", { class: "ok" }, "Whitelisted " + f.id + (repository ? " in " + repository : " in every repository") + "."), note);
    await waitTask(w.task);
    note.replaceChildren(h("span", { id: "whitelisted" }, "The stored images are re-reported."));
    risks();
  };
  const kv = (k, v, cls) => v ? h("div", { class: "kv" }, h("span", { class: "k" }, k), h("span", { class: "v " + (cls || "") }, v)) : null;
  const imgs = r.json.images.map((im) => h("div", { class: "image-card" },
    kv("Image", im.image, "mono"), kv("Installed", im.version), kv("Layer", (im.layerDiffID || "").slice(0, 19), "mono"), kv("History", im.createdBy, "mono"),
    kv("Path", im.path, "mono"), kv("Fix command", im.remediation, "mono fix-command"), kv("Evidence", im.evidence, "mono"),
    kv("Runs in", (im.workloads || []).join(", "), "mono"),
    h("div", { class: "row" }, button("Whitelist in this repository", "manage", () => wl(repoOf(im.image))),
      f.category === "system-vulnerability" && im.fixable === "image" ? button("Fix this image", "fix", () => fixDialog(im, f)) : null)));
  dialog(h("h2", {}, f.id + " ", sev(f.severity)), h("p", {}, f.title), f.fixedVersion ? h("p", {}, "Fixed in " + f.fixedVersion) : null,
    h("div", { class: "row" }, button("Whitelist in every repository", "manage", () => wl(""), "primary")),
    h("h3", {}, "Affected images (" + imgs.length + ")"), h("div", { id: "risk-images" }, imgs));
}

// pollEvery is how long to wait before reading a running task again: a
// second, and a millisecond more per image beyond a thousand, since each
// read of a task's view costs the store a request per image still running.
function pollEvery(t) { return Math.max(1000, ((t && t.counts && t.counts.total) || 0)); }

// waitTask waits (a minute at most) for a task to end.
async function waitTask(id) {
  for (let waited = 0; id && waited < 60000;) {
    const t = await api("GET", "/v1/tasks/" + encodeURIComponent(id));
    if (!t.ok || t.json.status !== "running") return;
    const pause = Math.max(500, pollEvery(t.json) / 2);
    await new Promise((res) => setTimeout(res, pause));
    waited += pause;
  }
}

function repoOf(ref) { const at = ref.indexOf("@"); let s = at >= 0 ? ref.slice(0, at) : ref; const c = s.lastIndexOf(":"); if (c > s.lastIndexOf("/")) s = s.slice(0, c); return s; }
function tagOf(ref) { const s = ref.split("@")[0]; const c = s.lastIndexOf(":"); return c > s.lastIndexOf("/") ? s.slice(c + 1) : ""; }

function fixDialog(im, f) {
  const tag = h("input", { id: "fix-tag", value: tagOf(im.image) || "latest" });
  const over = h("input", { type: "checkbox", id: "fix-overwrite" });
  dialog(h("h2", {}, "Fix " + im.image), h("p", { class: "muted" }, "Builds the image with the fixed packages from the distribution's signed archive, verifies it by a rescan and pushes <tag>_fixd."),
    h("label", { class: "block" }, h("span", {}, "Tag"), tag), h("label", {}, over, " overwrite the tag instead of pushing " + "<tag>_fixd"),
    h("div", { class: "row" }, button("Start the fix", "fix", async () => {
      const r = await api("POST", "/v1/images/" + im.digest + "/fix", { repository: repoOf(im.image), tag: tag.value.trim(), overwrite: over.checked, findings: f ? [f.id] : undefined });
      dialog(r.ok ? h("p", { class: "ok" }, "Fix task ", h("a", { href: "#/tasks/" + r.json.id, onclick: () => $("#dialog").close() }, r.json.id), " started.") : fail("fix", r));
    }, "primary")));
}

// ---- Images ----
const imageView = { q: "", offset: 0 };
async function images() {
  const r = await api("GET", "/v1/images?" + new URLSearchParams({ q: imageView.q, offset: imageView.offset, limit: PAGE }));
  if (!r.ok) return show(fail("images", r));
  const q = h("input", { id: "image-filter", placeholder: "repository, tag or digest", value: imageView.q });
  const count = (c, cat) => SEVS.reduce((a, s) => a + ((c[cat] || {})[s] || 0), 0);
  show(h("h1", {}, "Images"), h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); imageView.q = q.value.trim(); imageView.offset = 0; images(); } }, q, h("button", { type: "submit" }, "Filter")),
    h("table", { id: "image-table" }, h("thead", {}, h("tr", {}, h("th", {}, "Image"), h("th", {}, "Digest"), h("th", {}, "Last scan"), h("th", {}, "Status"), CATS.map(([, n]) => h("th", { class: "num" }, n.replace("Image ", ""))))),
      h("tbody", {}, r.json.images.map((im) => h("tr", { class: "clickable", onclick: () => { location.hash = "#/images/" + im.digest; } },
        h("td", { class: "mono" }, im.image), h("td", { class: "mono" }, im.digest.slice(0, 19)), h("td", {}, im.scanned), h("td", {}, im.complete ? "complete" : "incomplete"),
        CATS.map(([c]) => h("td", { class: "num" }, count(im.counts, c))))))),
    pager(r.json.total, imageView.offset, (o) => { imageView.offset = o; images(); }));
}

async function image(digest) {
  const [rep, ch, st, wk] = await Promise.all([api("GET", "/v1/images/" + digest + "/report"), api("GET", "/v1/images/" + digest + "/changes"), api("GET", "/v1/settings"), api("GET", "/v1/images/" + digest + "/workloads")]);
  if (!rep.ok) return show(fail("report", rep));
  const r = rep.json;
  const policies = ["default"].concat(((st.json || {}).policies || []).map((p) => p.name).filter((n) => n !== "default"));
  const verdicts = h("tbody", {});
  for (const p of policies) {
    const v = await api("GET", "/v1/images/" + digest + "/verdict?policy=" + encodeURIComponent(p));
    verdicts.append(h("tr", {}, h("td", {}, p), h("td", { class: v.ok && v.json.decision === "allow" ? "ok" : "error" }, v.ok ? v.json.decision : "—"), h("td", {}, v.ok ? (v.json.reasons || []).join("; ") : "")));
  }
  const byCat = CATS.map(([c, name]) => {
    const fs = r.findings.filter((f) => f.category === c && !f.whitelisted);
    return h("details", {}, h("summary", {}, name + " (" + fs.length + ")"),
      h("table", {}, h("tbody", {}, fs.slice(0, 500).map((f) => h("tr", {}, h("td", {}, sev(f.severity)), h("td", { class: "mono" }, f.id), h("td", {}, f.title), h("td", { class: "mono" }, f.package ? f.package.name + " " + f.package.version : f.path || ""), h("td", { class: "mono" }, f.remediation || ""))))));
  });
  const download = (fmt) => h("button", { type: "button", "data-format": fmt, onclick: async () => {
    const resp = await fetch("/v1/images/" + digest + "/report?format=" + fmt, { headers: { Authorization: "Bearer " + state.key } });
    const a = h("a", { href: URL.createObjectURL(await resp.blob()), download: digest.slice(7, 19) + "." + fmt }); a.click();
  } }, fmt);
  show(h("h1", {}, r.image.ref), h("p", { class: "mono" }, r.image.digest + " · " + r.image.platform + " · " + (r.image.os ? r.image.os.name || r.image.os.family : "unknown OS")),
    h("div", { class: "row" }, h("span", {}, "Download:"), ["json", "sarif", "cyclonedx", "spdx", "html", "table"].map(download),
      r.image.os && (r.image.os.family === "debian" || r.image.os.family === "ubuntu") ? button("Fix this image", "fix", () => fixDialog({ image: r.image.ref, digest: r.image.digest }, null), "primary") : null),
    wk.ok && wk.json.runtime.length ? [h("h2", {}, "Running in"), h("table", { id: "image-workloads" }, h("tbody", {}, wk.json.runtime.map((r) => h("tr", {}, h("td", {}, r.cluster), h("td", { class: "mono" }, r.workloads.join(", ")), h("td", { class: "mono" }, r.pods.join(", ")), h("td", {}, r.seen)))))] : null,
    h("h2", {}, "Layers"), h("table", {}, h("tbody", {}, r.layers.map((l) => h("tr", {}, h("td", {}, l.index), h("td", { class: "mono" }, l.diffID.slice(0, 19)), h("td", {}, l.status), h("td", { class: "mono" }, l.createdBy || ""))))),
    h("h2", {}, "Findings by category"), byCat,
    h("h2", {}, "Verdicts"), h("table", {}, verdicts),
    h("h2", {}, "Packages (" + r.packages.length + ")"), h("details", {}, h("summary", {}, "Show"), h("table", {}, h("tbody", {}, r.packages.slice(0, 2000).map((p) => h("tr", {}, h("td", {}, p.name), h("td", {}, p.version), h("td", {}, p.type), h("td", { class: "mono" }, p.path)))))),
    h("h2", {}, "Changes after re-matches"), ch.ok && (ch.json.changes || []).length ? h("table", {}, h("tbody", {}, ch.json.changes.map((c) => h("tr", {}, h("td", {}, c.created), h("td", {}, "+" + (c.added || []).length + " / −" + (c.resolved || []).length))))) : h("p", { class: "muted" }, "No changes recorded."));
}

// ---- Scan Now ----
async function scanNow() {
  const rr = await api("GET", "/v1/registries");
  const kinds = [...new Set(((rr.json && rr.json.registries) || []).map((c) => c.kind === "acr-ee" ? "acr" : c.kind))];
  const boxes = kinds.map((t) => h("label", { class: "row" }, h("input", { type: "checkbox", value: t, checked: true, "data-type": t }), t === "acr" ? "acr (ACR EE)" : t));
  dialog(h("h2", {}, "Scan Now"), h("p", { class: "muted" }, "Scans the scope now in the registries of the types checked (", h("a", { href: "#/settings", onclick: () => $("#dialog").close() }, "scope settings"), ")."),
    kinds.length ? boxes : h("p", { class: "error" }, "No registry is configured: add one under Scan Settings › Image Repository."),
    h("div", { class: "row" }, button("Scan", "scan", async () => {
      const sel = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
      const r = await api("POST", "/v1/scan-now", { registryTypes: sel.length === kinds.length ? [] : sel });
      dialog(r.ok ? h("p", { class: "ok" }, "Task ", h("a", { href: "#/tasks/" + r.json.id, id: "scan-task", onclick: () => $("#dialog").close() }, r.json.id), " started.") : fail("scan now", r));
    }, "primary")));
}

// ---- Task Management ----
const TASK_TABS = [["scan", "Image Scan", ["scan-now", "periodic", "push", "on-demand"]], ["runtime", "Runtime Scan", ["runtime"]], ["fix", "Image Remediation", ["fix"]], ["rematch", "Re-match", ["rematch"]]];
let taskTab = "scan";
async function tasks() {
  const r = await api("GET", "/v1/tasks?limit=200");
  if (!r.ok) return show(fail("tasks", r));
  const types = TASK_TABS.find((t) => t[0] === taskTab)[2];
  const list = (r.json.tasks || []).filter((t) => types.includes(t.type));
  show(h("h1", {}, "Task Management"), h("div", { class: "tabs" }, TASK_TABS.map(([id, name]) => h("button", { type: "button", class: id === taskTab ? "active" : "", onclick: () => { taskTab = id; tasks(); } }, name))),
    h("table", { id: "task-table" }, h("thead", {}, h("tr", {}, h("th", {}, "Task"), h("th", {}, "Type"), h("th", {}, "Trigger"), h("th", {}, "Created"), h("th", {}, "Progress"), h("th", {}, "Status"), h("th", { class: "num" }, "Images"))),
      h("tbody", {}, list.map((t) => h("tr", { class: "clickable", "data-task": t.id, onclick: () => { location.hash = "#/tasks/" + t.id; } }, h("td", { class: "mono" }, t.id), h("td", {}, t.type), h("td", {}, t.trigger), h("td", {}, t.created),
        h("td", {}, Math.round(t.progress * 100) + "%"), h("td", { class: "task-status" }, t.status), h("td", { class: "num" }, t.counts.total))))));
}
async function taskPage(id) {
  const r = await api("GET", "/v1/tasks/" + encodeURIComponent(id));
  if (!r.ok) return show(fail("task", r));
  const t = r.json;
  show(h("h1", {}, "Task " + t.id), h("p", {}, t.type + " · " + t.trigger + " · ", h("b", { id: "task-status" }, t.status), " · " + Math.round(t.progress * 100) + "% · " + t.counts.succeeded + " succeeded, " + t.counts.failed + " failed, " + t.counts.skipped + " skipped"),
    (t.errors || []).map((e) => h("p", { class: "error" }, e)),
    h("h2", {}, "Execution log"), h("table", { id: "task-log" }, h("thead", {}, h("tr", {}, h("th", {}, "Image"), h("th", {}, "Status"), h("th", {}, "Cause"))),
      h("tbody", {}, (t.log || []).map((e) => h("tr", {}, h("td", { class: "mono" }, e.image, (e.workloads || []).length ? h("div", { class: "muted" }, "runs in " + e.workloads.join(", ")) : null), h("td", {}, e.status), h("td", {}, e.reason || "", e.note ? h("div", { class: "muted" }, e.note) : null,
        e.fix ? h("details", {}, h("summary", {}, "fix log"), h("pre", { class: "mono" }, JSON.stringify(e.fix, null, 1))) : null))))));
  if (t.status === "running") setTimeout(() => { if (location.hash === "#/tasks/" + id) taskPage(id); }, pollEvery(t));
}

// ---- Scan Settings ----
const SETTINGS_TABS = [["scan", "Scan Configuration"], ["registries", "Image Repository"], ["baseline", "Baseline Configuration Management"], ["sensitive", "Sensitive File Scan Settings"],
  ["files", "At-risk File Whitelist"], ["fix", "Image Risk Fixing Configuration"], ["vulns", "Vulnerability Whitelist Settings"], ["notifications", "Notifications"], ["policies", "Policies"]];
let settingsTab = "scan";

async function settingsPage() {
  const [r, q] = await Promise.all([api("GET", "/v1/settings"), api("GET", "/v1/quota")]);
  if (!r.ok) return show(fail("settings", r));
  const s = r.json, etag = r.etag;
  const body = h("div", { class: "card", id: "settings-body" });
  show(h("h1", {}, "Scan Settings"), h("div", { class: "tabs" }, SETTINGS_TABS.map(([id, name]) => h("button", { type: "button", "data-settings-tab": id, class: id === settingsTab ? "active" : "", onclick: () => { settingsTab = id; settingsPage(); } }, name))), body);
  const fields = [];
  const field = (label, path, input) => { input.dataset.field = path; fields.push([path, input]); return h("label", { class: "block" }, h("span", {}, label), input, h("span", { class: "field-error", "data-error-for": path })); };
  const save = async (mutate) => {
    body.querySelectorAll(".field-error").forEach((e) => { e.textContent = ""; });
    const doc = JSON.parse(JSON.stringify(s));
    for (const k of ["version", "updatedAt", "updatedBy"]) delete doc[k];
    try { mutate(doc); } catch (e) { return status.replaceChildren(h("span", { class: "error" }, String(e.message || e))); }
    const w = await api("PUT", "/v1/settings", doc, { "If-Match": etag });
    if (w.status === 412) return status.replaceChildren(h("span", { class: "error", id: "conflict" }, "Someone else changed the settings since you opened them. "), h("button", { type: "button", id: "reload", onclick: settingsPage }, "Reload"));
    if (!w.ok) {
      const msg = (w.json && w.json.error) || String(w.status);
      const path = msg.split(":")[0];
      const slot = body.querySelector('[data-error-for="' + CSS.escape(path) + '"]');
      if (slot) slot.textContent = msg; else status.replaceChildren(h("span", { class: "error" }, msg));
      return;
    }
    status.replaceChildren(h("span", { class: "ok", id: "saved" }, "Saved (version " + w.json.version + ")."));
    setTimeout(settingsPage, 600);
  };
  const status = h("div", { id: "settings-status" });
  const num = (v) => h("input", { type: "number", min: 0, value: v });
  const json = (v) => h("textarea", { rows: 8 }, JSON.stringify(v, null, 2));
  switch (settingsTab) {
  case "scan": {
    const cycle = h("select", {}, ["3d", "1w", "2w", "stop"].map((c) => h("option", { value: c, selected: c === s.scan.cycle }, c)));
    const scope = json(s.scan.scope), auto = h("input", { type: "checkbox", checked: s.scan.autoAddRepositories }), tr = num(s.scan.timeRangeDays), ret = num(s.scan.retentionDays);
    const qd = q.ok ? q.json : {};
    // The repository picker: a connection's repositories as check boxes,
    // written into the scope rules as one rule for that connection.
    const rr = await api("GET", "/v1/registries");
    const conns = ((rr.json && rr.json.registries) || []).filter((c) => (c.hosts || []).length);
    const pickerBody = h("div", { id: "repo-picker" });
    const tagRe = h("input", { id: "picker-tag-regex", placeholder: "tag regex (empty: every tag)", size: 24 });
    const picker = h("div", { class: "card" }, h("h3", {}, "Repository picker"), h("div", { class: "row" }, conns.map((c) => h("button", { type: "button", "data-pick": c.id, onclick: async () => {
      const l = await api("GET", "/v1/registries/" + encodeURIComponent(c.id) + "/repositories");
      if (!l.ok) return pickerBody.replaceChildren(fail("repositories", l));
      let rules = []; try { rules = JSON.parse(scope.value); } catch { rules = []; }
      const chosen = new Set(rules.filter((r) => r.registry === c.id).flatMap((r) => r.repositories || []));
      const boxes = l.json.repositories.map((repo) => { const i = h("input", { type: "checkbox", value: repo, checked: chosen.has(repo), "data-repo": repo }); return [i, h("label", { class: "check" }, i, h("span", { class: "mono" }, repo))]; });
      pickerBody.replaceChildren(h("p", { class: "muted" }, c.id + ": " + l.json.repositories.length + " repository(ies)"), h("div", { class: "grid" }, boxes.map((b) => b[1])),
        h("div", { class: "row" }, tagRe, h("button", { type: "button", id: "picker-apply", onclick: () => {
          let rs = []; try { rs = JSON.parse(scope.value); } catch { rs = []; }
          rs = rs.filter((r) => r.registry !== c.id);
          const repos = boxes.filter((b) => b[0].checked).map((b) => b[0].value);
          if (repos.length) { const rule = { registry: c.id, repositories: repos }; if (tagRe.value.trim()) rule.tagRegex = tagRe.value.trim(); rs.push(rule); }
          scope.value = JSON.stringify(rs, null, 2);
        } }, "Use as the scope of " + c.id)));
    } }, "Pick repositories of " + c.id))), pickerBody);
    body.append(h("p", {}, "Quota: " + (qd.consumed ?? "?") + " consumed of " + (qd.purchased === null ? "unlimited" : qd.purchased) + " this period (" + (qd.period || "") + ")"),
      field("Scan cycle", "scan.cycle", cycle), field("Scope rules (registry, namespaces, repositories, tagRegex)", "scan.scope", scope), picker, h("label", {}, auto, " add new repositories to the scope automatically"),
      field("Time range (days; 0 is every image)", "scan.timeRangeDays", tr), field("Retention (days; 0 keeps everything)", "scan.retentionDays", ret), status,
      button("Save", "manage", () => save((d) => { d.scan.cycle = cycle.value; d.scan.scope = JSON.parse(scope.value); d.scan.autoAddRepositories = auto.checked; d.scan.timeRangeDays = +tr.value; d.scan.retentionDays = +ret.value; }), "primary"));
    break;
  }
  case "fix": {
    const f = s.fix || {};
    const on = h("input", { type: "checkbox", checked: f.auto, id: "fix-auto" }), cycle = h("select", {}, ["3d", "1w", "2w"].map((c) => h("option", { value: c, selected: c === f.cycle }, c)));
    const scope = json(f.scope || []), tr = num(f.timeRangeDays || 0), over = h("input", { type: "checkbox", checked: f.overwrite });
    body.append(h("label", {}, on, " automatic fixing"), field("Fixing cycle", "fix.cycle", cycle), field("Scope rules", "fix.scope", scope), field("Time range (days)", "fix.timeRangeDays", tr),
      h("label", {}, over, " overwrite the tag (else push <tag>_fixd)"), status,
      button("Save", "manage", () => save((d) => { d.fix = Object.assign(d.fix || {}, { auto: on.checked, cycle: cycle.value, scope: JSON.parse(scope.value), timeRangeDays: +tr.value, overwrite: over.checked }); }), "primary"),
      h("h3", {}, "Remediation status"), await remediations());
    break;
  }
  case "baseline": case "sensitive": {
    const cat = await api("GET", "/v1/checks");
    const c = JSON.parse(JSON.stringify(s.checks));
    const box = (label, on, id) => { const i = h("input", { type: "checkbox", checked: on, "data-check": id }); return [i, h("label", { class: "check" }, i, h("span", {}, label))]; };
    const list = (ids, disabled) => ids.map((id) => box(id, !disabled.includes(id), id));
    if (settingsTab === "baseline") {
      const ak = box("AccessKey-leak detection (" + cat.json.accessKeys.join(", ") + ")", c.accessKeyLeak, "accessKeyLeak");
      const pw = box("Password-leak detection (" + cat.json.passwords.join(", ") + ")", c.passwordLeak, "passwordLeak");
      const ms = box("Malicious-sample scanning", c.maliciousSamples, "maliciousSamples");
      const bl = list(cat.json.baseline.concat(cat.json.build), c.disabledChecks || []);
      body.append(h("h3", {}, "Switches"), ak[1], pw[1], ms[1], h("h3", {}, "Baseline and build-instruction checks"), h("div", { class: "grid" }, bl.map((x) => x[1])),
        h("span", { class: "field-error", "data-error-for": "checks" }), status,
        button("Save", "manage", () => save((d) => { d.checks.accessKeyLeak = ak[0].checked; d.checks.passwordLeak = pw[0].checked; d.checks.maliciousSamples = ms[0].checked; d.checks.disabledChecks = bl.filter((x) => !x[0].checked).map((x) => x[0].dataset.check); }), "primary"));
    } else {
      const on = box("Sensitive-file scan", c.sensitiveFiles, "sensitiveFiles");
      const items = list(cat.json.sensitiveFiles, c.disabledSensitiveItems || []);
      body.append(on[1], h("h3", {}, "Items"), h("div", { class: "grid" }, items.map((x) => x[1])), h("span", { class: "field-error", "data-error-for": "checks" }), status,
        button("Save", "manage", () => save((d) => { d.checks.sensitiveFiles = on[0].checked; d.checks.disabledSensitiveItems = items.filter((x) => !x[0].checked).map((x) => x[0].dataset.check); }), "primary"));
    }
    break;
  }
  case "notifications": {
    const n = json(s.notifications);
    const tests = h("table", { id: "notification-table" }, h("tbody", {}, (s.notifications || []).map((t) => h("tr", {}, h("td", {}, t.id), h("td", {}, t.kind), h("td", { class: "mono" }, t.url), h("td", {}, (t.events || []).join(", ") || "every event"),
      h("td", {}, button("Send test", "manage", async () => { const r = await api("POST", "/v1/settings/notifications/" + encodeURIComponent(t.id) + "/test"); status.replaceChildren(r.ok ? h("span", { class: "ok", id: "test-sent" }, "Test sent to " + t.id + ".") : fail("test", r)); }))))));
    body.append(tests, field("Targets (DingTalk, HTTP, HTTPS)", "notifications", n), status, button("Save", "manage", () => save((d) => { d.notifications = JSON.parse(n.value); }), "primary"));
    break;
  }
  case "policies": {
    const p = json(s.policies);
    body.append(field("Policies", "policies", p), status, button("Save", "manage", () => save((d) => { d.policies = JSON.parse(p.value); }), "primary"));
    break;
  }
  case "registries": {
    const rr = await api("GET", "/v1/registries");
    const list = (rr.json && rr.json.registries) || [];
    const doc = h("textarea", { rows: 7, id: "registry-new" }, JSON.stringify({ id: "", kind: "harbor", hosts: ["registry.example.com"], imagesPerHour: 0, auth: { method: "basic", username: "robot", password: { env: "HARBOR_PASSWORD" } } }, null, 2));
    body.append(h("table", { id: "registry-table" }, h("thead", {}, h("tr", {}, h("th", {}, "ID"), h("th", {}, "Kind"), h("th", {}, "Hosts"), h("th", {}, "Images per hour (0: the kind's default, -1: unlimited)"), h("th", {}, ""))),
      h("tbody", {}, list.map((c) => {
        const rate = h("input", { type: "number", value: c.imagesPerHour || 0, min: -1, "data-registry": c.id });
        // The account's default ACR connections cannot be removed (the API answers 409).
        const builtin = c.id === "acr" || c.id === "defaultAcr";
        const saveBtn = button("Save", "manage", async () => { const u = await api("PUT", "/v1/registries/" + encodeURIComponent(c.id), Object.assign({}, c, { imagesPerHour: +rate.value })); status.replaceChildren(u.ok ? h("span", { class: "ok" }, "Saved.") : fail("throttle", u)); });
        saveBtn.dataset.saveRegistry = c.id;
        return h("tr", {}, h("td", {}, c.id), h("td", {}, c.kind), h("td", { class: "mono" }, (c.hosts || []).join(", ")), h("td", {}, rate, " ", saveBtn),
          h("td", {}, builtin ? h("button", { type: "button", disabled: true, title: "The account's default ACR connections cannot be removed" }, "Default") : button("Remove", "manage", async () => { const d = await api("DELETE", "/v1/registries/" + encodeURIComponent(c.id)); status.replaceChildren(d.ok ? h("span", { class: "ok" }, "Removed.") : fail("remove", d)); if (d.ok) settingsPage(); })));
      }))), status,
      h("h3", {}, "Add a connection"), h("p", { class: "muted" }, "Secrets are given as {\"env\": NAME}, {\"file\": PATH} or a value, which is sealed and never shown again (docs/registries.md)."), doc,
      h("div", { class: "row" }, button("Add", "manage", async () => {
        let c; try { c = JSON.parse(doc.value); } catch (e) { return status.replaceChildren(h("span", { class: "error" }, String(e.message))); }
        const a = await api("POST", "/v1/registries", c); status.replaceChildren(a.ok ? h("span", { class: "ok" }, "Added.") : fail("add", a)); if (a.ok) settingsPage();
      }, "primary")));
    break;
  }
  case "files": case "vulns": {
    const type = settingsTab === "files" ? "file" : "vulnerability";
    const wr = await api("GET", "/v1/whitelists?type=" + type);
    const rules = (wr.json && wr.json.rules) || [];
    const editor = h("textarea", { rows: 7, id: "whitelist-doc" }, JSON.stringify(type === "file" ? { type, category: "sensitive-file", alertID: "LS-SECRET-*", repositories: [], note: "" } : { type, vulnerabilities: ["CVE-…"], repositories: [], images: [], note: "" }, null, 2));
    let editing = "";
    const saveRule = async () => {
      let en; try { en = JSON.parse(editor.value); } catch (e) { return status.replaceChildren(h("span", { class: "error" }, String(e.message))); }
      const w = editing ? await api("PUT", "/v1/whitelists/" + encodeURIComponent(editing), en) : await api("POST", "/v1/whitelists", en);
      status.replaceChildren(w.ok ? h("span", { class: "ok" }, "Saved.") : fail("whitelist", w)); if (w.ok) settingsPage();
    };
    body.append(h("table", { id: "whitelist-table" }, h("thead", {}, h("tr", {}, h("th", {}, "ID"), h("th", {}, "Rule"), h("th", {}, "Scope"), h("th", {}, "Note"), h("th", {}, ""))),
      h("tbody", {}, rules.map((w) => h("tr", {}, h("td", { class: "mono" }, w.id), h("td", { class: "mono" }, (w.vulnerabilities || []).join(", ") || ((w.category || "any") + " " + w.alertID)), h("td", {}, (w.repositories || []).concat(w.images || []).join(", ") || "every repository"), h("td", {}, w.note || ""),
        h("td", {}, button("Edit", "manage", () => {
          editing = w.id;
          const en = Object.assign({}, w); for (const k of ["id", "created", "createdBy", "updated"]) delete en[k];
          editor.value = JSON.stringify(en, null, 2); editor.focus();
        }), " ", button("Delete", "manage", async () => { const d = await api("DELETE", "/v1/whitelists/" + encodeURIComponent(w.id)); status.replaceChildren(d.ok ? h("span", { class: "ok" }, "Deleted.") : fail("delete", d)); if (d.ok) settingsPage(); })))))), status,
      h("h3", {}, "Create or edit a rule (scope: repositories, images; note)"), editor, h("div", { class: "row" }, button("Save rule", "manage", saveRule, "primary")));
    break;
  }
  }
}

async function remediations() {
  const r = await api("GET", "/v1/fixes");
  if (!r.ok) return fail("remediation", r);
  return h("table", {}, h("tbody", {}, r.json.images.map((s) => h("tr", {}, h("td", { class: "mono" }, s.image), h("td", {}, s.status), h("td", { class: "mono" }, s.fixedImage || ""), h("td", {}, s.gone + " gone, " + s.remaining + " remaining")))));
}

// ---- routing ----
async function route() {
  if (!state.key) return signIn();
  if (!state.me) {
    const r = await fetch("/v1/whoami", { headers: { Authorization: "Bearer " + state.key } });
    if (!r.ok) { state.key = ""; return signIn(); }
    state.me = await r.json();
  }
  $("#nav").hidden = false;
  $("#who").replaceChildren(h("span", { id: "role" }, state.me.role), state.me.can.manage || state.me.can.scan ? "" : " (read only)", " · ", h("a", { href: "#", class: "signout", onclick: (e) => { e.preventDefault(); signOut(); } }, "Sign out"));
  gate($("#scan-now"), "scan");
  const hash = location.hash.replace(/^#/, "") || "/";
  const page = hash.startsWith("/images") ? "images" : hash.startsWith("/tasks") ? "tasks" : hash.startsWith("/settings") ? "settings" : "risks";
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === page));
  try {
    let m;
    if ((m = hash.match(/^\/images\/(sha256:[0-9a-f]{64})$/))) await image(m[1]);
    else if (hash === "/images") await images();
    else if ((m = hash.match(/^\/tasks\/([0-9A-Za-z_-]+)$/))) await taskPage(m[1]);
    else if (hash === "/tasks") await tasks();
    else if (hash === "/settings") await settingsPage();
    else await risks();
  } catch (e) { show(h("p", { class: "error" }, String(e.message || e))); }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => { $("#scan-now").addEventListener("click", scanNow); route(); });
