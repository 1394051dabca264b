/* skyfence operator console: map of service cells per time step, policy, requests, what-if.
 *
 * Everything comes from the console's own API (same origin, bearer token); MapLibre GL JS is
 * served by the app from the local npm cache. No network access beyond the server. Server
 * text is always inserted with textContent (never as HTML).
 */
"use strict";

(function () {
  const STATUS = { 0: "uncovered", 1: "blocked", 2: "served" };
  const COLORS = { served: "#2e9d4a", blocked: "#d7301f", uncovered: "#9e9e9e" };

  const state = {
    token: sessionStorage.getItem("skyfence-token") || "",
    me: null,
    info: null,         // GET /api/map
    step: 0,
    status: null,       // status codes of the current step (array, one per point)
    whatif: null,       // POST /api/map/whatif answer
    timer: null,
    map: null,
    mapReady: false,
    layersLoaded: false,
    requestSeq: 0,
  };

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function say(text, isError) {
    const s = $("status");
    s.textContent = text || "";
    s.classList.toggle("error", !!isError);
  }

  // -- API -------------------------------------------------------------------------------

  async function api(path, options) {
    const opts = Object.assign({ headers: {} }, options || {});
    opts.headers = Object.assign({ Authorization: "Bearer " + state.token }, opts.headers);
    if (opts.json !== undefined) {
      opts.body = JSON.stringify(opts.json);
      opts.headers["Content-Type"] = "application/json";
      delete opts.json;
    }
    const resp = await fetch(path, opts);
    const type = resp.headers.get("content-type") || "";
    const body = type.includes("json") ? await resp.json() : await resp.blob();
    if (!resp.ok) {
      const msg = body && body.error ? body.error : resp.status + " " + resp.statusText;
      const err = new Error(msg);
      err.status = resp.status;
      throw err;
    }
    return body;
  }

  function roleAtLeast(need) {
    const order = ["viewer", "requester", "approver", "admin"];
    return state.me && order.indexOf(state.me.role) >= order.indexOf(need);
  }

  // -- sign in ---------------------------------------------------------------------------

  async function signIn(token) {
    state.token = token.trim();
    try {
      state.me = await api("/api/me");
    } catch (e) {
      state.me = null;
      state.token = "";
      sessionStorage.removeItem("skyfence-token");
      say("sign-in failed: " + e.message, true);
      showLogin();
      return;
    }
    sessionStorage.setItem("skyfence-token", state.token);
    $("login").hidden = true;
    $("whoami").hidden = false;
    $("whoami-name").textContent = state.me.name + " (" + state.me.role + ")";
    $("request-form").hidden = !roleAtLeast("requester");
    $("job-form").hidden = !roleAtLeast("requester");
    say("signed in as " + state.me.name);
    await Promise.all([loadMapInfo(), loadPolicy(), loadRequests(), loadJobs()]);
  }

  function showLogin() {
    $("login").hidden = false;
    $("whoami").hidden = true;
    $("request-form").hidden = true;
    $("job-form").hidden = true;
  }

  function signOut() {
    state.me = null;
    state.token = "";
    sessionStorage.removeItem("skyfence-token");
    $("token").value = "";
    $("requests").replaceChildren();
    $("policy").replaceChildren();
    $("details").replaceChildren();
    $("jobs").replaceChildren();
    showLogin();
    say("signed out");
  }

  // -- map -------------------------------------------------------------------------------

  function createMap() {
    const style = {
      version: 8,
      sources: {},
      layers: [{ id: "background", type: "background", paint: { "background-color": "#dfe7ee" } }],
    };
    const map = new maplibregl.Map({
      container: "map", style: style, center: [30, 48], zoom: 3, attributionControl: false,
      renderWorldCopies: false, preserveDrawingBuffer: true,
    });
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
    map.addControl(new maplibregl.AttributionControl({
      compact: true, customAttribution: "borders: Natural Earth (via skyfence)" }));
    map.on("load", () => { state.mapReady = true; maybeLoadLayers(); });
    map.on("click", onMapClick);
    for (const layer of ["cells-fill", "terminals"]) {
      map.on("mouseenter", layer, () => { map.getCanvas().style.cursor = "pointer"; });
      map.on("mouseleave", layer, () => { map.getCanvas().style.cursor = ""; });
    }
    state.map = map;
  }

  async function loadMapInfo() {
    let info;
    try {
      info = await api("/api/map");
    } catch (e) {
      say("map: " + e.message, true);
      return;
    }
    state.info = info;
    const msg = $("map-message");
    if (info.state !== "ready") {
      msg.hidden = false;
      msg.textContent = info.state === "failed" ? "map failed: " + info.error :
        info.state === "off" ? "this server runs without a map (--no-map)" :
        "computing the map (scenario " + info.scenario + ")...";
      if (info.state === "running" || info.state === "pending") {
        setTimeout(loadMapInfo, 1500);
      }
      return;
    }
    msg.hidden = true;
    $("scenario-info").textContent = "scenario " + info.scenario + ", " + info.steps.length +
      " steps of " + info.step_s + " s, " + info.n_cells + " cells, boundaries " + info.edition;
    const slider = $("time");
    slider.max = String(info.steps.length - 1);
    const names = $("region-names");
    names.replaceChildren(...info.regions.map((r) => el("option", { value: r })));
    maybeLoadLayers();
  }

  async function maybeLoadLayers() {
    if (!state.mapReady || !state.info || state.info.state !== "ready" || state.layersLoaded) {
      return;
    }
    state.layersLoaded = true;
    const map = state.map;
    const [borders, cells, sites] = await Promise.all([
      api("/api/map/borders"), api("/api/map/cells"), api("/api/map/sites")]);
    map.addSource("borders", { type: "geojson", data: borders });
    map.addSource("cells", { type: "geojson", data: cells });
    map.addSource("sites", { type: "geojson", data: sites });
    map.addSource("satellites", { type: "geojson",
      data: { type: "FeatureCollection", features: [] } });
    map.addLayer({ id: "borders-fill", type: "fill", source: "borders",
      filter: ["==", ["get", "kind"], "country"],
      paint: { "fill-color": "#f7f4ee", "fill-opacity": 1 } });
    const statusColor = ["match", ["coalesce", ["feature-state", "status"], -1],
      2, COLORS.served, 1, COLORS.blocked, 0, COLORS.uncovered, "#ffffff"];
    map.addLayer({ id: "cells-fill", type: "fill", source: "cells",
      filter: ["==", ["get", "kind"], "cell"],
      paint: { "fill-color": statusColor, "fill-opacity": 0.72 } });
    map.addLayer({ id: "cells-whatif", type: "line", source: "cells",
      filter: ["==", ["get", "kind"], "cell"],
      paint: {
        "line-color": ["match", ["coalesce", ["feature-state", "whatif"], ""],
          "gain", "#1f78ff", "loss", "#ff8c00", "rgba(0,0,0,0)"],
        "line-width": ["match", ["coalesce", ["feature-state", "whatif"], ""],
          "gain", 2.5, "loss", 2.5, 0],
      } });
    map.addLayer({ id: "borders-line", type: "line", source: "borders",
      paint: { "line-color": ["match", ["get", "kind"], "region", "#333", "#777"],
               "line-width": ["match", ["get", "kind"], "region", 1.4, 0.7],
               "line-dasharray": ["match", ["get", "kind"], "region", ["literal", [3, 2]],
                                  ["literal", [1, 0]]] } });
    map.addLayer({ id: "satellites", type: "circle", source: "satellites",
      paint: { "circle-radius": 1.8, "circle-color": "#4b2a8a", "circle-opacity": 0.65 } });
    map.addLayer({ id: "sites", type: "circle", source: "sites",
      paint: { "circle-radius": 5,
               "circle-color": ["match", ["get", "kind"], "gateway", "#0a58ca", "#e8a317"],
               "circle-stroke-color": "#000", "circle-stroke-width": 1 } });
    map.addLayer({ id: "terminals", type: "circle", source: "cells",
      filter: ["==", ["get", "kind"], "terminal"],
      paint: { "circle-radius": 6, "circle-color": statusColor,
               "circle-stroke-color": "#000", "circle-stroke-width": 1.5 } });
    const b = state.info.bounds;
    map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 40, duration: 0 });
    await setStep(0);
    window.skyfence.ready = true;
  }

  const LAYERS = {
    cells: ["cells-fill", "cells-whatif"], terminals: ["terminals"],
    borders: ["borders-fill", "borders-line"], satellites: ["satellites"], sites: ["sites"],
  };

  function toggleLayer(name, on) {
    if (!state.layersLoaded) return;
    for (const id of LAYERS[name]) {
      state.map.setLayoutProperty(id, "visibility", on ? "visible" : "none");
    }
  }

  async function setStep(step) {
    if (!state.info || state.info.state !== "ready") return;
    state.step = step;
    $("time").value = String(step);
    $("time-label").textContent = state.info.steps[step] + "  (" + (step + 1) + "/" +
      state.info.steps.length + ")";
    const seq = ++state.requestSeq;
    const [st, sats] = await Promise.all([
      api("/api/map/status?step=" + step),
      $("layers").querySelector("[data-layer=satellites]").checked ?
        api("/api/map/satellites?step=" + step) : Promise.resolve(null)]);
    if (seq !== state.requestSeq) return;  // a later step was asked meanwhile
    state.status = st.status;
    const map = state.map;
    for (let i = 0; i < st.status.length; i++) {
      map.setFeatureState({ source: "cells", id: i }, { status: st.status[i] });
    }
    if (sats) {
      const feats = sats.lat_deg.map((lat, k) => ({ type: "Feature",
        geometry: { type: "Point", coordinates: [sats.lon_deg[k], lat] },
        properties: { norad_id: sats.norad_id[k] } }));
      map.getSource("satellites").setData({ type: "FeatureCollection", features: feats });
    }
    $("counts").textContent = st.counts.served + " served, " + st.counts.blocked +
      " blocked, " + st.counts.uncovered + " uncovered (" + st.policy + ")";
    applyWhatIf();
    if (state.selected !== undefined) showPoint(state.selected, false);
  }

  function togglePlay() {
    if (state.timer) {
      clearInterval(state.timer);
      state.timer = null;
      $("play").innerHTML = "&#9654;";
      return;
    }
    $("play").innerHTML = "&#10074;&#10074;";
    state.timer = setInterval(() => {
      const n = state.info.steps.length;
      setStep((state.step + 1) % n);
    }, 900);
  }

  // -- what-if toggle ----------------------------------------------------------------------

  async function updateWhatIf() {
    const on = $("whatif-on").checked;
    const region = $("whatif-region").value.trim();
    state.whatif = null;
    if (on && region) {
      try {
        state.whatif = await api("/api/map/whatif", { method: "POST",
          json: { region: region, action: $("whatif-action").value } });
      } catch (e) {
        say("what-if: " + e.message, true);
      }
    }
    applyWhatIf();
  }

  function applyWhatIf() {
    if (!state.layersLoaded) return;
    const map = state.map;
    const n = state.status ? state.status.length : 0;
    for (let i = 0; i < n; i++) map.setFeatureState({ source: "cells", id: i }, { whatif: "" });
    const res = $("whatif-result");
    if (!state.whatif) { res.textContent = ""; return; }
    const s = state.whatif.steps[state.step];
    for (const i of s.gain) map.setFeatureState({ source: "cells", id: i }, { whatif: "gain" });
    for (const i of s.loss) map.setFeatureState({ source: "cells", id: i }, { whatif: "loss" });
    res.textContent = state.whatif.change + ": " + s.gain.length + " gain, " + s.loss.length +
      " lose service at this step";
  }

  // -- details -----------------------------------------------------------------------------

  function onMapClick(e) {
    if (!state.layersLoaded) return;
    const feats = state.map.queryRenderedFeatures(e.point, { layers: ["terminals", "cells-fill"] });
    if (!feats.length) return;
    showPoint(feats[0].properties.i);
  }

  async function showPoint(index, focus) {
    state.selected = index;
    if (focus !== false) selectTab("details");  // a refresh (new step) keeps the open tab
    let d;
    try {
      d = await api("/api/map/point?index=" + index + "&step=" + state.step);
    } catch (e) {
      say(e.message, true);
      return;
    }
    const dl = el("dl", { id: "point-detail" });
    const add = (k, v) => { dl.append(el("dt", { text: k }), el("dd", { text: v })); };
    add(d.kind, d.name);
    add("time (UTC)", d.t_utc);
    add("H3 cell", d.h3_cell);
    if (d.region) add("region", d.region);
    add("status", d.status);
    add("policy", d.policy);
    add("rule", d.rule);
    add("reason", d.reason || "-");
    if (d.reference) add("reference", d.reference);
    add("satellites in view", String(d.n_visible));
    add("best elevation", d.best_elevation_deg === null ? "-" : d.best_elevation_deg + " deg");
    if (d.path) {
      add("RTT", d.path.rtt_ms + " ms" + (d.path.applies ? "" : " (if it were served)") +
        (d.path.t_utc !== d.t_utc ? " at " + d.path.t_utc : ""));
      add("path", "satellite " + d.path.satellite_norad_id + " -> " +
        (d.path.n_laser_hops ? d.path.n_laser_hops + " laser hops -> " : "bent pipe -> ") +
        "gateway " + d.path.gateway + " -> PoP " + d.path.pop);
    } else {
      add("RTT", "-");
    }
    const sats = el("table", {},
      el("tr", {}, el("th", { text: "NORAD" }), el("th", { text: "name" }),
        el("th", { text: "el (deg)" }), el("th", { text: "az (deg)" }),
        el("th", { text: "range (km)" })));
    for (const s of d.satellites) {
      sats.append(el("tr", {}, el("td", { text: s.norad_id }), el("td", { text: s.name }),
        el("td", { text: s.elevation_deg }), el("td", { text: s.azimuth_deg }),
        el("td", { text: s.range_km })));
    }
    $("details").replaceChildren(dl, el("h4", { text: "highest satellites in view" }), sats);
  }

  // -- policy ------------------------------------------------------------------------------

  async function loadPolicy() {
    let p;
    try {
      p = await api("/api/policies/default");
    } catch (e) {
      $("policy").replaceChildren(el("p", { class: "muted", text: e.message }));
      return;
    }
    const doc = p.policy;
    const table = el("table", { id: "rules" }, el("tr", {},
      ...["rule", "target", "action", "prio", "window (UTC)", "reason"].map(
        (h) => el("th", { text: h }))));
    for (const r of doc.rules || []) {
      const target = r.region || ((r.cells || []).length + " cells");
      const win = r.start || r.end ? "[" + (r.start || "-inf") + ", " + (r.end || "+inf") + ")" : "";
      table.append(el("tr", {}, el("td", { text: r.name }), el("td", { text: target }),
        el("td", { text: r.action }), el("td", { text: r.priority || 0 }),
        el("td", { text: win }), el("td", { text: r.reason || "" })));
    }
    for (const m of doc.moving_rules || []) {
      table.append(el("tr", {}, el("td", { text: m.name }), el("td", { text: m.region }),
        el("td", { text: "off > " + m.max_speed_kmh + " km/h" }), el("td", { text: "" }),
        el("td", { text: "" }), el("td", { text: m.reason || "" })));
    }
    table.append(el("tr", {}, el("td", { text: "default" }),
      el("td", { text: "rest of the world" }), el("td", { text: doc.default_action }),
      el("td", { text: "" }), el("td", { text: "" }),
      el("td", { text: doc.default_reason || "" })));
    $("policy").replaceChildren(
      el("p", {}, el("b", { text: p.name + " v" + p.version }),
        " by " + p.created_by + " at " + p.created_at + (p.comment ? " (" + p.comment + ")" : "")),
      table);
  }

  // -- requests ----------------------------------------------------------------------------

  async function loadRequests() {
    let page;
    try {
      page = await api("/api/requests?limit=50");
    } catch (e) {
      $("requests").replaceChildren(el("p", { class: "muted", text: e.message }));
      return;
    }
    const list = el("div", { id: "request-list" });
    for (const r of page.items) {
      const win = r.window_start || r.window_end ?
        " [" + (r.window_start || "-inf") + ", " + (r.window_end || "+inf") + ")" : "";
      const box = el("div", { class: "req", "data-id": r.id, "data-status": r.status },
        el("div", {}, el("b", { text: "#" + r.id + " " + r.action + " " + r.region }),
          " ", el("span", { class: "status-" + r.status, text: r.status })),
        el("div", { class: "muted", text: "by " + r.requested_by + " at " + r.requested_at + win }),
        el("div", { text: r.why }));
      for (const d of r.decisions) {
        box.append(el("div", { class: "muted",
          text: d.outcome + " by " + d.decided_by + " at " + d.decided_at + ": " + d.reason }));
      }
      const open = r.status === "pending" || r.status === "deferred";
      if (open && roleAtLeast("approver")) {
        if (r.requested_by === state.me.name) {
          box.append(el("div", { class: "muted", text: "four eyes: you filed this request" }));
        } else {
          const reason = el("input", { placeholder: "reason", class: "decide-reason" });
          const decide = (outcome) => async (ev) => {
            ev.preventDefault();
            await decideRequest(r.id, outcome, reason.value);
          };
          box.append(el("div", { class: "decide" }, reason,
            el("button", { type: "button", class: "approve", onclick: decide("approved"),
                           text: "Approve" }),
            el("button", { type: "button", class: "refuse", onclick: decide("refused"),
                           text: "Refuse" }),
            el("button", { type: "button", class: "defer", onclick: decide("deferred"),
                           text: "Defer" })));
        }
      }
      list.append(box);
    }
    $("requests").replaceChildren(
      el("p", { class: "muted", text: page.total + " requests (newest first)" }), list);
  }

  async function fileRequest(ev) {
    ev.preventDefault();
    const body = { region: $("req-region").value.trim(), action: $("req-action").value,
                   why: $("req-why").value };
    const start = $("req-start").value.trim(), end = $("req-end").value.trim();
    const ref = $("req-ref").value.trim();
    if (start) body.start = start;
    if (end) body.end = end;
    if (ref) body.reference = ref;
    try {
      const r = await api("/api/requests", { method: "POST", json: body });
      say("request " + r.id + " filed");
      $("req-why").value = "";
    } catch (e) {
      say("request refused: " + e.message, true);
    }
    await loadRequests();
  }

  async function decideRequest(id, outcome, reason) {
    try {
      const d = await api("/api/requests/" + id + "/decision", { method: "POST",
        json: { outcome: outcome, reason: reason || outcome + " in the console" } });
      say("request " + id + " " + d.outcome + (d.policy_version ? ": stored " +
        d.policy_version.name + " v" + d.policy_version.version : ""));
    } catch (e) {
      say("decision refused: " + e.message, true);
    }
    await Promise.all([loadRequests(), loadPolicy()]);
    if (state.layersLoaded) await setStep(state.step);
  }

  // -- jobs --------------------------------------------------------------------------------

  async function loadJobs() {
    let page;
    try {
      page = await api("/api/jobs?limit=20");
    } catch (e) {
      $("jobs").replaceChildren(el("p", { class: "muted", text: e.message }));
      return;
    }
    const list = el("div", {});
    let running = false;
    for (const j of page.items) {
      running = running || j.state === "running" || j.state === "queued";
      const p = j.params;
      const what = j.kind === "outage" ? "down: " + p.down.join(", ") :
        j.kind === "change" ? (p.region || "cells") + " " + p.action : "policies";
      const box = el("div", { class: "req" },
        el("div", {}, el("b", { text: j.kind + ": " + what }), " ",
          el("span", { text: j.state })),
        el("div", { class: "muted", text: "by " + j.submitted_by + " at " + j.submitted_at }));
      if (j.error) box.append(el("div", { class: "status-refused", text: j.error }));
      if (j.summary && j.summary.regions) {
        const t = el("table", {});
        const cols = Object.keys(j.summary.regions[0] || {}).slice(0, 6);
        t.append(el("tr", {}, ...cols.map((c) => el("th", { text: c }))));
        for (const row of j.summary.regions) {
          t.append(el("tr", {}, ...cols.map((c) => el("td", {
            text: typeof row[c] === "number" ? Number(row[c].toPrecision(4)) : row[c] }))));
        }
        box.append(t);
      }
      for (const [name, href] of Object.entries(j.links || {})) {
        box.append(el("a", { href: "#", onclick: (ev) => { ev.preventDefault(); download(href, name); },
                             text: name }), " ");
      }
      list.append(box);
    }
    $("jobs").replaceChildren(list);
    if (running) setTimeout(loadJobs, 2000);
  }

  async function download(href, name) {
    try {
      const blob = await api(href);
      const url = URL.createObjectURL(blob instanceof Blob ? blob :
        new Blob([JSON.stringify(blob)], { type: "application/json" }));
      const a = el("a", { href: url, download: name });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 5000);
    } catch (e) {
      say(e.message, true);
    }
  }

  async function submitJob(ev) {
    ev.preventDefault();
    const kind = $("job-kind").value;
    const target = $("job-target").value.trim();
    const body = kind === "outage" ? { kind: "outage", down: [target] } :
      { kind: "change", region: target, action: $("job-action").value };
    try {
      const j = await api("/api/whatif", { method: "POST", json: body });
      say("what-if job " + j.id + " submitted");
    } catch (e) {
      say("what-if refused: " + e.message, true);
    }
    await loadJobs();
  }

  // -- tabs and wiring ---------------------------------------------------------------------

  function selectTab(name) {
    for (const b of document.querySelectorAll("#tabs button")) {
      b.classList.toggle("active", b.dataset.tab === name);
    }
    for (const s of document.querySelectorAll(".tab")) s.hidden = s.id !== "tab-" + name;
  }

  /** Rendered cell features by status (what the map draws now). */
  function drawnCounts() {
    const counts = { served: 0, blocked: 0, uncovered: 0 };
    if (!state.layersLoaded) return counts;
    const seen = new Set();
    for (const f of state.map.queryRenderedFeatures({ layers: ["cells-fill"] })) {
      if (seen.has(f.id)) continue;
      seen.add(f.id);
      const s = STATUS[f.state.status];
      if (s) counts[s] += 1;
    }
    return counts;
  }

  /** Screen position (px, relative to the map) of a cell's centre, for tests and links. */
  function pointPixel(index) {
    const lon = [], lat = [];
    const f = state.map.querySourceFeatures("cells", { filter: ["==", ["get", "i"], index] })[0];
    if (!f) return null;
    const ring = f.geometry.type === "Polygon" ? f.geometry.coordinates[0] :
      f.geometry.coordinates[0][0];
    for (const c of ring) { lon.push(c[0]); lat.push(c[1]); }
    const avg = (a) => a.reduce((x, y) => x + y, 0) / a.length;
    const p = state.map.project([avg(lon), avg(lat)]);
    return { x: p.x, y: p.y };
  }

  window.skyfence = { state: state, drawnCounts: drawnCounts, pointPixel: pointPixel,
                      setStep: setStep, ready: false };

  document.addEventListener("DOMContentLoaded", () => {
    createMap();
    $("login").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("token").value); });
    $("sign-out").addEventListener("click", signOut);
    $("time").addEventListener("input", (ev) => setStep(Number(ev.target.value)));
    $("play").addEventListener("click", togglePlay);
    $("whatif-on").addEventListener("change", updateWhatIf);
    $("whatif-region").addEventListener("change", updateWhatIf);
    $("whatif-action").addEventListener("change", updateWhatIf);
    $("request-form").addEventListener("submit", fileRequest);
    $("job-form").addEventListener("submit", submitJob);
    for (const b of document.querySelectorAll("#tabs button")) {
      b.addEventListener("click", () => selectTab(b.dataset.tab));
    }
    for (const box of document.querySelectorAll("#layers input")) {
      box.addEventListener("change", () => toggleLayer(box.dataset.layer, box.checked));
    }
    if (state.token) signIn(state.token); else showLogin();
  });
})();
