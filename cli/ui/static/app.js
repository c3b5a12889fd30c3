// afflux ui: one page, three views (#/ fleet, #/object/Kind/ns/name, #/graph), no framework
// and no build step. Live: one EventSource on /api/stream (a snapshot, then each change).
// Every text from the cluster goes through textContent (h() below), never innerHTML.

const SVG = "http://www.w3.org/2000/svg";
const rows = new Map();   // key -> fleet row (see cli/ui/_model.py fleet_row)
let kindErrors = {};
let view = null;          // {name, render(), onChange(row)}
// the namespace shown (?namespace=...; empty: all namespaces, or the server's --watch-namespace)
const NS = new URLSearchParams(location.search).get("namespace") || "";
const scoped = (path) => (NS ? `${path}${path.includes("?") ? "&" : "?"}namespace=${encodeURIComponent(NS)}` : path);
let session = { csrf: "", user: "" };  // /api/session: who the server acts as, the CSRF token

function h(tag, attrs = {}, ...children) {
  const el = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

function toast(text, error = false) {
  const t = document.getElementById("toast");
  t.textContent = text;
  t.className = "show" + (error ? " error" : "");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.className = ""; }, error ? 15000 : 5000);
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

function objectHref(kind, ns, name) {
  return `#/object/${encodeURIComponent(kind)}/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`;
}

function badge(state) { return h("span", { class: `badge ${state}` }, state); }

// --- live updates -------------------------------------------------------------------------------

function connect() {
  const conn = document.getElementById("conn");
  const es = new EventSource(scoped("/api/stream"));
  es.addEventListener("open", () => { conn.textContent = "live"; conn.className = "conn live"; });
  es.addEventListener("error", () => { conn.textContent = "reconnecting…"; conn.className = "conn"; });
  es.addEventListener("snapshot", (e) => {
    const data = JSON.parse(e.data);
    rows.clear();
    for (const r of data.rows) rows.set(r.key, r);
    kindErrors = data.errors;
    showErrors();
    if (view) view.render();
  });
  es.addEventListener("upsert", (e) => { const r = JSON.parse(e.data); rows.set(r.key, r); changed(r); });
  es.addEventListener("delete", (e) => { const d = JSON.parse(e.data); rows.delete(d.key); changed(d); });
  es.addEventListener("kinderror", (e) => {
    const d = JSON.parse(e.data);
    if (d.message) kindErrors[d.kind] = d.message; else delete kindErrors[d.kind];
    showErrors();
  });
}

const changed = (row) => { if (view && view.onChange) view.onChange(row); };

function showErrors() {
  const box = document.getElementById("errors");
  box.replaceChildren(...Object.entries(kindErrors).map(([k, m]) => h("div", {}, `${k}: ${m}`)));
}

// --- the fleet ----------------------------------------------------------------------------------

// The same order as fleet_groups in cli/ui/_model.py: groups by their most urgent row, then kind
// order and namespace; inside a group by urgency, then name.
function groups(list) {
  const byKey = new Map();
  for (const r of list) {
    const k = `${r.kind}/${r.namespace}`;
    if (!byKey.has(k)) byKey.set(k, { kind: r.kind, namespace: r.namespace, kindOrder: r.kindOrder, rows: [] });
    byKey.get(k).rows.push(r);
  }
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  const out = [...byKey.values()];
  for (const g of out) {
    g.rows.sort((a, b) => a.rank - b.rank || cmp(a.name, b.name));
    g.rank = g.rows[0].rank;
  }
  out.sort((a, b) => a.rank - b.rank || a.kindOrder - b.kindOrder || cmp(a.namespace, b.namespace));
  return out;
}

function fleetView() {
  const main = document.getElementById("main");
  const filter = h("input", { type: "search", id: "filter", placeholder: "filter: kind, namespace, name, message" });
  const failingOnly = h("input", { type: "checkbox", id: "failing-only" });
  const count = h("span", { id: "count" });
  const body = h("div", { id: "fleet" });
  main.replaceChildren(h("div", { class: "toolbar" }, filter, h("label", {}, failingOnly, " failing only"), count), body);
  const render = () => {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = [...rows.values()].filter((r) =>
      (!failingOnly.checked || r.state === "failing") &&
      words.every((w) => `${r.kind} ${r.namespace} ${r.name} ${r.message} ${r.state}`.toLowerCase().includes(w)));
    count.textContent = `${shown.length} of ${rows.size} objects`;
    body.replaceChildren(...groups(shown).map((g) => h("div", { class: "group" },
      h("h3", {}, g.kind, " ", h("span", { class: "ns" }, g.namespace || "(cluster)")),
      h("table", {},
        h("thead", {}, h("tr", {}, ["state", "name", "revision", "message"].map((c) => h("th", {}, c)))),
        h("tbody", {}, g.rows.map((r) => h("tr", { "data-key": r.key, "data-state": r.state, class: "row" },
          h("td", {}, badge(r.state)),
          h("td", {}, h("a", { href: objectHref(r.kind, r.namespace, r.name) }, r.name)),
          h("td", {}, r.revision),
          h("td", { class: "msg" }, r.message))))))));
  };
  filter.addEventListener("input", render);
  failingOnly.addEventListener("change", render);
  return { name: "fleet", render, onChange: debounce(render, 100) };
}

// --- one object ---------------------------------------------------------------------------------

async function act(action, kind, ns, name) {
  const path = `/api/${action}/${encodeURIComponent(kind)}/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`;
  const resp = await fetch(path, { method: "POST", headers: { "X-Afflux-UI": "1", "X-CSRF-Token": session.csrf } });
  const data = await resp.json().catch(() => ({ error: `${resp.status} ${resp.statusText}` }));
  if (resp.ok) toast(data.message); else toast(data.error, true);
}

function treeList(node) {
  const label = `${node.kind}/${node.namespace ? node.namespace + "/" : ""}${node.name}${node.note ? " (" + node.note + ")" : ""}`;
  const li = h("li", {}, label);
  if (node.resources) li.append(h("ul", { class: "tree" }, node.resources.map(treeList)));
  return li;
}

function table(head, body) {
  return h("table", {}, h("thead", {}, h("tr", {}, head.map((c) => h("th", {}, c)))),
    h("tbody", {}, body.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c ?? ""))))));
}

function objectView(kind, ns, name) {
  const main = document.getElementById("main");
  const key = `${kind}/${ns}/${name}`;
  const render = async () => {
    const seq = ++me.seq;
    const resp = await fetch(`/api/object/${encodeURIComponent(kind)}/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`);
    const d = await resp.json();
    if (view !== me || seq !== me.seq) return;  // the user went elsewhere, or a newer answer came
    if (!resp.ok) { main.replaceChildren(h("h2", {}, key), h("p", { class: "error" }, d.error)); return; }
    const r = d.row;
    const buttons = [h("button", { id: "act-reconcile", onclick: () => act("reconcile", kind, ns, name) }, "Reconcile")];
    if (d.source) buttons.push(h("button", { id: "act-reconcile-with-source", onclick: () => act("reconcile-with-source", kind, ns, name) }, "Reconcile with source"));
    buttons.push(r.suspended
      ? h("button", { id: "act-resume", onclick: () => act("resume", kind, ns, name) }, "Resume")
      : h("button", { id: "act-suspend", onclick: () => act("suspend", kind, ns, name) }, "Suspend"));
    const parts = [
      h("h2", {}, `${kind} ${ns}/${name} `, badge(r.state)),
      h("p", { id: "message" }, r.message),
      h("p", {}, `revision: ${r.revision || "-"}`, d.source ? ` · source: ${d.source}` : "",
        ` · requested: `, h("span", { id: "requested-at" }, d.requestedAt || "-"),
        ` · handled: ${d.lastHandledReconcileAt || "-"}`),
      h("div", { class: "actions" }, buttons),
      h("section", {}, h("h2", {}, "Conditions"), table(["type", "status", "reason", "message", "since"],
        d.conditions.map((c) => [c.type, c.status, c.reason, c.message, c.lastTransitionTime]))),
      h("section", {}, h("h2", {}, "Events"), d.eventsError ? h("p", {}, d.eventsError) :
        table(["last seen", "type", "reason", "count", "message"], d.events.map((e) => [e.last, e.type, e.reason, e.count, e.message]).reverse())),
    ];
    if (d.lastChange) {
      const c = d.lastChange;
      parts.push(h("section", { id: "last-change" }, h("h2", {}, "Last change"),
        h("p", {}, c.time, c.revision ? ` · revision ${c.revision}` : ""), h("pre", {}, c.changes.join("\n"))));
    }
    if (d.drift && d.drift.length) {
      parts.push(h("section", { id: "drift" }, h("h2", {}, "Drift corrected"), d.drift.flatMap((rec) => [
        h("p", {}, rec.time, rec.count > 1 ? ` · ${rec.count} times` : "", rec.revision ? ` · revision ${rec.revision}` : ""),
        table(["object", "field", "in the cluster", "put back", "changed by"], rec.objects.flatMap((o) =>
          o.fields.map((f) => [o.object, f.path, f.live ?? "(absent)", f.applied ?? "(absent)", f.manager || "-"]))),
      ])));
    }
    if (d.row.kind === "Kustomization" || d.row.kind === "HelmRelease") parts.push(nextSection(me, kind, ns, name));
    if (d.tree) parts.push(h("section", { id: "inventory" }, h("h2", {}, "Inventory"), h("ul", { class: "tree" }, treeList(d.tree))));
    if (d.history.length) {
      const cols = [...new Set(d.history.flatMap((s) => Object.keys(s)))];
      parts.push(h("section", { id: "history" }, h("h2", {}, "History"), table(cols, d.history.map((s) =>
        cols.map((c) => (typeof s[c] === "object" ? JSON.stringify(s[c]) : s[c]))))));
    }
    main.replaceChildren(...parts);
  };
  // filter, then debounce: a debounced call sees only the last change, maybe another object's
  const later = debounce(render, 100);
  const me = { name: "object", seq: 0, next: null, render, onChange: (row) => { if (row.key === key) later(); } };
  return me;
}

// What the next reconcile would change: computed on demand (GET /api/next/..., cli/ui/_next.py).
function nextSection(me, kind, ns, name) {
  // the page is redrawn when the object changes: the result lives in me.next, and is shown in
  // whichever #next-result is on the page when it comes
  const show = (d) => {
    const out = document.getElementById("next-result");
    if (!out || !d) return;
    document.getElementById("next-compute").textContent = "Recompute";
    if (d.pending) { out.replaceChildren(h("p", {}, "computing…")); return; }
    if (d.error) { out.replaceChildren(h("p", { class: "error" }, d.error)); return; }
    if (d.skipped) { out.replaceChildren(h("p", {}, d.skipped)); return; }
    const n = d.created.length + d.changed.length + d.pruned.length;
    const when = d.at ? new Date(d.at * 1000).toLocaleTimeString() : "";
    const parts = [h("p", { id: "next-summary" }, n ? `${d.created.length} to create, ${d.changed.length} to change, ${d.pruned.length} to prune` : "nothing to change",
      ` · revision ${d.revision || "-"} · computed ${when}${d.cached ? " (cached)" : ""}`)];
    if (d.held) parts.push(h("p", { class: "error" }, d.held));
    if (d.created.length) parts.push(h("h3", {}, "Created"), h("ul", { id: "next-created" }, d.created.map((o) => h("li", {}, o))));
    if (d.changed.length) parts.push(h("h3", {}, "Changed"), h("div", { id: "next-changed" }, d.changed.map((c) =>
      h("details", { open: "", "data-object": c.object }, h("summary", {}, c.object), h("pre", { class: "diff" }, c.diff)))));
    if (d.pruned.length) parts.push(h("h3", {}, "Pruned"), h("ul", { id: "next-pruned" }, d.pruned.map((o) => h("li", {}, o))));
    out.replaceChildren(...parts);
  };
  const compute = async () => {
    const refresh = me.next !== null;
    me.next = { pending: true };
    show(me.next);
    const path = `/api/next/${encodeURIComponent(kind)}/${encodeURIComponent(ns)}/${encodeURIComponent(name)}${refresh ? "?refresh=1" : ""}`;
    const resp = await fetch(path);
    const d = await resp.json().catch(() => ({ error: `${resp.status} ${resp.statusText}` }));
    if (view !== me) return;
    me.next = d;
    show(d);
  };
  queueMicrotask(() => show(me.next));
  return h("section", { id: "next" }, h("h2", {}, "What the next reconcile would change"),
    h("div", { class: "actions" },
      h("button", { id: "next-compute", onclick: compute }, me.next ? "Recompute" : "Compute")),
    h("div", { id: "next-result" }));
}

// --- the graph ----------------------------------------------------------------------------------

const NODE_W = 200, NODE_H = 30;
const cut = (text, n) => (text.length > n ? text.slice(0, n - 1) + "…" : text);

function graphView() {
  const main = document.getElementById("main");
  const applied = h("input", { type: "checkbox", id: "show-applied", checked: "" });
  const filter = h("input", { type: "search", id: "graph-filter", placeholder: "focus: kind, namespace, name" });
  const svg = h("svg:svg", { id: "graph" });
  const legend = h("span", { class: "legend" }, ["ready", "failing", "progressing", "suspended", "unknown"].map((s) => h("span", {}, badge(s))),
    h("span", {}, "— source  ", "‐ ‐ dependsOn  ", "··· depends-on (across kinds)"));
  main.replaceChildren(h("div", { class: "toolbar" }, filter, h("label", {}, applied, " applied objects"), legend, h("span", { id: "graph-count" })), svg);
  let box = null;
  const setBox = () => svg.setAttribute("viewBox", `${box.x} ${box.y} ${box.w} ${box.h}`);
  // pan: drag; zoom: wheel, around the pointer
  let drag = null, moved = false;
  svg.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY, bx: box.x, by: box.y, id: e.pointerId }; moved = false; });
  svg.addEventListener("pointerup", () => { drag = null; });
  svg.addEventListener("pointermove", (e) => {
    if (!drag || !box) return;
    if (!moved && Math.hypot(e.clientX - drag.x, e.clientY - drag.y) < 4) return;
    if (!moved) { moved = true; svg.setPointerCapture(drag.id); }
    const scale = box.w / svg.clientWidth;
    box.x = drag.bx - (e.clientX - drag.x) * scale; box.y = drag.by - (e.clientY - drag.y) * scale; setBox();
  });
  svg.addEventListener("wheel", (e) => {
    e.preventDefault();
    if (!box) return;
    const f = Math.exp(e.deltaY * 0.001), rect = svg.getBoundingClientRect();
    const px = box.x + (e.clientX - rect.left) / rect.width * box.w, py = box.y + (e.clientY - rect.top) / rect.height * box.h;
    box = { x: px - (px - box.x) * f, y: py - (py - box.y) * f, w: box.w * f, h: box.h * f }; setBox();
  }, { passive: false });
  const render = async () => {
    const q = encodeURIComponent(filter.value), seq = ++me.seq;
    const g = await (await fetch(scoped(`/api/graph?applied=${applied.checked ? 1 : 0}&q=${q}`))).json();
    if (view !== me || seq !== me.seq) return;
    const pos = new Map(g.nodes.map((n) => [n.id, n]));
    const edges = g.edges.map((e) => {
      const a = pos.get(e.source), b = pos.get(e.target);
      // through the free cells the layout kept for it (e.points), curving between layers
      const stops = [[a.x + NODE_W / 2, a.y]];
      for (const [x, y] of e.points) stops.push([x - NODE_W / 2, y], [x + NODE_W / 2, y]);
      stops.push([b.x - NODE_W / 2, b.y]);
      let d = `M${stops[0][0]},${stops[0][1]}`;
      for (let i = 1; i < stops.length; i++) {
        const [x1, y1] = stops[i - 1], [x2, y2] = stops[i], mx = (x1 + x2) / 2;
        d += i % 2 ? ` C${mx},${y1} ${mx},${y2} ${x2},${y2}` : ` L${x2},${y2}`;
      }
      return h("svg:path", { class: `edge ${e.type}`, "data-source": e.source, "data-target": e.target, d });
    });
    const nodes = g.nodes.map((n) => h("svg:g", { class: `node ${n.state} ${n.role}`, "data-id": n.id, transform: `translate(${n.x - NODE_W / 2},${n.y - NODE_H / 2})`,
      onclick: () => { if (n.role === "flux" && !moved) location.hash = objectHref(n.kind, n.namespace, n.name); } },
      h("svg:title", {}, `${n.id} (${n.state})`),
      h("svg:rect", { width: NODE_W, height: NODE_H }),
      h("svg:text", { class: "kind", x: 6, y: 11 }, cut(`${n.kind}${n.namespace ? " · " + n.namespace : ""}`, 38)),
      h("svg:text", { x: 6, y: 24 }, cut(n.name, 30))));
    svg.replaceChildren(h("svg:g", {}, edges), h("svg:g", {}, nodes));
    document.getElementById("graph-count").textContent = `${g.nodes.length} nodes, ${g.edges.length} edges`;
    if (!box) {
      const pad = NODE_W;
      box = { x: -pad, y: -NODE_H * 2, w: Math.max(g.width + 2 * pad, 800), h: Math.max(g.height + NODE_H * 4, 400) };
      setBox();
    }
  };
  const refit = () => { box = null; render(); };
  applied.addEventListener("change", refit);
  filter.addEventListener("input", debounce(refit, 250));
  const me = { name: "graph", seq: 0, render, onChange: debounce(render, 500) };
  return me;
}

// --- image automation -------------------------------------------------------------------------

function pushList(r) {
  if (r.pushesError) return h("span", { class: "error" }, r.pushesError);
  return h("ol", { class: "pushes" }, ...r.pushes.map((p) => h("li", {},
    h("code", { class: "push-commit" }, p.commit.slice(0, 7)), ` ${p.branch} ${p.time} `,
    h("span", { class: "push-subject" }, p.subject))));
}

function imagesView() {
  const main = document.getElementById("main");
  const link = (r) => h("a", { href: objectHref(r.key.split("/")[0], r.namespace, r.name) }, `${r.namespace}/${r.name}`);
  const render = async () => {
    const seq = ++me.seq;
    const t = await (await fetch(scoped("/api/images"))).json();
    if (view !== me || seq !== me.seq) return;
    main.replaceChildren(
      h("section", { id: "image-policies" }, h("h2", {}, "Image policies"),
        table(["state", "policy", "repository", "latest image", "previous", "message"], t.policies.map((r) =>
          [badge(r.state), link(r), r.repository, h("code", { class: "latest" }, r.latest), r.previous, r.message]))),
      h("section", { id: "image-automations" }, h("h2", {}, "Image update automations"),
        table(["state", "automation", "source", "last commit pushed", "pushed at", "images written", "pushes (newest first)", "message"], t.automations.map((r) =>
          [badge(r.state), link(r), r.source, h("code", { class: "commit" }, r.commit.slice(0, 12)), r.pushed,
            r.images.join(", "), pushList(r), r.message]))),
      h("section", { id: "image-repositories" }, h("h2", {}, "Image repositories"),
        table(["state", "repository", "image", "tags", "latest tags", "scanned", "message"], t.repositories.map((r) =>
          [badge(r.state), link(r), r.image, r.tags ?? "", r.latestTags.join(", "), r.scanned, r.message]))));
  };
  const later = debounce(render, 200);
  const me = { name: "images", seq: 0, render, onChange: (row) => { if (row.key.startsWith("Image")) later(); } };
  return me;
}

// --- routing ------------------------------------------------------------------------------------

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] === "object" && parts.length === 4) view = objectView(parts[1], parts[2], parts[3]);
  else if (parts[0] === "graph") view = graphView();
  else if (parts[0] === "images") view = imagesView();
  else view = fleetView();
  view.render();
}

function header() {
  const box = h("input", { type: "search", id: "namespace", placeholder: "all namespaces", value: NS, size: 16,
    title: "the namespace to show (for a user who may not list every namespace)" });
  box.addEventListener("change", () => { const q = new URLSearchParams(location.search); if (box.value) q.set("namespace", box.value); else q.delete("namespace"); location.search = q.toString(); });
  document.getElementById("scope").replaceChildren(h("span", { id: "user" }, session.user), " namespace ", box);
}

async function start() {
  const resp = await fetch("/api/session");
  const d = await resp.json().catch(() => ({ error: `${resp.status} ${resp.statusText}` }));
  if (!resp.ok) { document.getElementById("errors").replaceChildren(h("div", {}, d.error)); return; }
  session = d;
  header();
  window.addEventListener("hashchange", route);
  route();
  connect();
}

start();
