// Periscope dashboard: small helpers shared by every page. No build step; loaded with defer.
"use strict";

const Periscope = (() => {
  const meta = name => document.querySelector(`meta[name="${name}"]`)?.content;

  /** Calls the REST API with the page's session cookie and CSRF token; resolves to the JSON body (or null). */
  async function api(method, url, body) {
    const headers = { "Accept": "application/json" };
    const token = meta("csrf-token");
    if (token) headers[meta("csrf-header") || "X-CSRF-TOKEN"] = token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)
    });
    const text = await response.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
    if (!response.ok) {
      const detail = json && (json.detail || json.title) || text || response.statusText;
      throw new Error(`${response.status}: ${detail}`);
    }
    return json;
  }

  /** The form's named fields as a JSON object: numbers as numbers, checkboxes as booleans, blanks left out. */
  function formJson(form) {
    const out = {};
    for (const el of form.elements) {
      if (!el.name || el.disabled || el.name === "_csrf") continue;
      if (el.type === "checkbox") { out[el.name] = el.checked; continue; }
      const v = el.value.trim();
      if (v === "") continue;
      out[el.name] = el.type === "number" ? Number(v) : v;
    }
    return out;
  }

  function showError(form, message) {
    let box = form.querySelector(".error-box");
    if (!box) {
      box = document.createElement("p");
      box.className = "error-box";
      box.setAttribute("role", "alert");
      form.append(box);
    }
    box.textContent = message;
  }

  /**
   * Forms marked data-api="METHOD URL" submit JSON to the API. data-then: "reload" (default), "token" (show the
   * returned secret once in the element data-target names), or "session" (open the new session's trace page).
   */
  function wireApiForms(root) {
    root.querySelectorAll("form[data-api]").forEach(form => {
      if (form.dataset.wired) return;
      form.dataset.wired = "1";
      form.addEventListener("submit", async event => {
        event.preventDefault();
        const [method, url] = form.dataset.api.split(" ");
        const button = form.querySelector("button[type=submit]");
        if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
        if (button) button.disabled = true;
        try {
          const body = method === "DELETE" ? undefined : formJson(form);
          const result = await api(method, url, body);
          const then = form.dataset.then || "reload";
          if (then === "token") {
            const target = document.getElementById(form.dataset.target);
            target.hidden = false;
            target.querySelector("code").textContent = result.token;
            document.querySelectorAll("main .empty").forEach(e => { e.hidden = true; });
            form.reset();
          } else if (then === "session") {
            window.location.assign(`/sessions/${encodeURIComponent(result.id)}`);
          } else {
            window.location.reload();
          }
        } catch (e) {
          showError(form, e.message);
        } finally {
          if (button) button.disabled = false;
        }
      });
    });
  }

  /** Client-side filter of table rows by a text box and selects (data-filter-* attributes on the rows). */
  function wireTableFilter(table, controls, onChange) {
    const apply = () => {
      let shown = 0;
      const rows = table.tBodies[0].rows;
      for (const row of rows) {
        let ok = true;
        for (const control of controls) {
          const v = control.value.trim().toLowerCase();
          if (!v) continue;
          const key = control.dataset.filter;
          const hay = key === "text" ? row.textContent.toLowerCase() : (row.dataset[key] || "").toLowerCase();
          if (key === "text" ? !hay.includes(v) : hay !== v) ok = false;
        }
        row.hidden = !ok;
        if (ok) shown++;
      }
      if (onChange) onChange(shown, rows.length);
    };
    controls.forEach(c => c.addEventListener("input", apply));
    apply();
  }

  /** Draws values as an inline SVG polyline into svg (viewBox 0 0 W H). */
  function sparkline(svg, values) {
    const w = 120, h = 24;
    svg.innerHTML = "";
    if (values.length < 2) return;
    const max = Math.max(1e-9, ...values);
    const step = w / (values.length - 1);
    const points = values.map((v, i) => `${(i * step).toFixed(1)},${(h - 2 - (v / max) * (h - 4)).toFixed(1)}`);
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", points.join(" "));
    svg.append(line);
  }

  /** Fleet page: filters, active sessions per VM and each VM's event-rate sparkline from its overhead counters. */
  function fleetPage() {
    const table = document.getElementById("fleet");
    if (!table) return;
    const count = document.getElementById("fleet-count");
    wireTableFilter(table, [...document.querySelectorAll("[data-filter]")],
      (shown, all) => { count.textContent = shown === all ? `${all} VMs` : `${shown} of ${all} VMs`; });

    const history = new Map();   // vm -> { last: {total, at}, rates: [] }
    const counterOf = summaries => {
      // Trace sessions record "delivered" (events per one-second sample); without traces, count the samples taken.
      const delivered = summaries.filter(s => s.metric === "delivered");
      return delivered.length ? delivered[0].total : summaries.reduce((a, s) => a + s.samples, 0);
    };
    async function poll() {
      try {
        const sessions = await api("GET", "/api/v1/sessions?state=active");
        const active = {};
        sessions.forEach(s => { active[s.vm] = (active[s.vm] || 0) + 1; });
        table.querySelectorAll("td.sessions").forEach(td => {
          td.textContent = active[td.closest("tr").dataset.vm] || 0;
        });
      } catch (e) { /* keep the last numbers */ }
      for (const row of table.tBodies[0].rows) {
        const vm = row.dataset.vm;
        try {
          const summaries = await api("GET", `/api/v1/vms/${encodeURIComponent(vm)}/overhead`);
          const now = Date.now(), total = counterOf(summaries);
          const h = history.get(vm) || { rates: [] };
          if (h.last) h.rates.push(Math.max(0, (total - h.last.total) / ((now - h.last.at) / 1000)));
          if (h.rates.length > 30) h.rates.shift();
          h.last = { total, at: now };
          history.set(vm, h);
          const svg = row.querySelector("svg.sparkline");
          sparkline(svg, h.rates);
          const rate = h.rates.length ? h.rates[h.rates.length - 1] : null;
          row.querySelector(".rate").textContent = rate === null ? "measuring…" : `${rate.toFixed(1)}/s`;
        } catch (e) {
          row.querySelector(".rate").textContent = "–";
        }
      }
    }
    poll();
    setInterval(poll, 5000);
  }

  /** VM page: process table refreshed on the chosen interval, new and exited processes marked, trace dialog. */
  function vmPage() {
    const holder = document.getElementById("processes");
    if (!holder) return;
    const url = holder.dataset.url;
    const intervalSelect = document.getElementById("refresh");
    const modeSelect = document.getElementById("mode");
    let previous = snapshotRows();
    let timer = null;

    function snapshotRows() {
      const rows = new Map();
      holder.querySelectorAll("tbody tr[data-key]:not(.exited)").forEach(r => rows.set(r.dataset.key, r.cloneNode(true)));
      return rows;
    }
    function refresh() {
      const status = document.getElementById("refresh-status");
      status.textContent = "refreshing…";
      htmx.ajax("GET", `${url}?mode=${encodeURIComponent(modeSelect.value)}`, { target: holder, swap: "innerHTML" })
        .catch(() => { status.textContent = "refresh failed"; });
    }
    holder.addEventListener("htmx:afterSwap", () => {
      const current = snapshotRows();
      const tbody = holder.querySelector("tbody");
      let added = 0, exited = 0;
      if (tbody) {
        tbody.querySelectorAll("tr[data-key]").forEach(r => {
          if (!previous.has(r.dataset.key)) { r.classList.add("new"); added++; }
        });
        previous.forEach((row, key) => {
          if (!current.has(key)) {
            row.classList.remove("new");
            row.classList.add("exited");
            row.querySelectorAll("button").forEach(b => b.remove());
            row.title = "exited since the previous list";
            tbody.append(row);
            exited++;
          }
        });
      }
      previous = current;
      const status = document.getElementById("refresh-status");
      status.textContent = `refreshed ${new Date().toLocaleTimeString()}: ${added} new, ${exited} exited`;
      wireTraceButtons();
    });
    holder.addEventListener("htmx:responseError", e => {
      document.getElementById("refresh-status").textContent = `refresh failed (${e.detail.xhr.status})`;
    });
    function schedule() {
      if (timer) clearInterval(timer);
      const seconds = Number(intervalSelect.value);
      timer = seconds > 0 ? setInterval(refresh, seconds * 1000) : null;
    }
    const hideKernel = document.getElementById("hide-kthreads");
    const find = document.getElementById("proc-filter");
    function applyFind() {
      const v = find.value.trim().toLowerCase();
      holder.querySelectorAll("tbody tr").forEach(r => { r.hidden = v !== "" && !r.textContent.toLowerCase().includes(v); });
    }
    const asTree = document.getElementById("as-tree");
    /** Orders the live rows parent before children (depth-first by pid) and indents names; exited rows stay last. */
    function arrange() {
      const tbody = holder.querySelector("tbody");
      if (!tbody) return;
      const live = [...tbody.querySelectorAll("tr[data-pid]:not(.exited)")];
      const exited = [...tbody.querySelectorAll("tr.exited")];
      const byPid = new Map(live.map(r => [r.dataset.pid, r]));
      let ordered;
      if (asTree.checked) {
        const children = new Map();
        const roots = [];
        live.forEach(r => {
          const parent = r.dataset.ppid;
          if (parent !== r.dataset.pid && byPid.has(parent)) {
            if (!children.has(parent)) children.set(parent, []);
            children.get(parent).push(r);
          } else {
            roots.push(r);
          }
        });
        ordered = [];
        const seen = new Set();
        const visit = (row, depth) => {
          if (seen.has(row)) return;        // guest data is hostile: no cycles
          seen.add(row);
          row.querySelector(".pname").style.paddingLeft = `${0.6 + depth * 1.1}em`;
          row.querySelector(".pname").classList.toggle("child", depth > 0);
          ordered.push(row);
          (children.get(row.dataset.pid) || []).forEach(c => visit(c, Math.min(depth + 1, 12)));
        };
        roots.forEach(r => visit(r, 0));
        live.forEach(r => { if (!seen.has(r)) visit(r, 0); });
      } else {
        ordered = live.sort((a, b) => Number(a.dataset.pid) - Number(b.dataset.pid));
        ordered.forEach(r => { r.querySelector(".pname").style.paddingLeft = ""; r.querySelector(".pname").classList.remove("child"); });
      }
      ordered.concat(exited).forEach(r => tbody.append(r));
    }
    asTree.addEventListener("change", arrange);
    holder.addEventListener("htmx:afterSettle", arrange);
    arrange();
    hideKernel.addEventListener("change", () => holder.classList.toggle("hide-kthreads", hideKernel.checked));
    find.addEventListener("input", applyFind);
    holder.addEventListener("htmx:afterSettle", applyFind);
    intervalSelect.addEventListener("change", schedule);
    modeSelect.addEventListener("change", refresh);
    document.getElementById("refresh-now").addEventListener("click", refresh);
    schedule();

    const dialog = document.getElementById("trace-dialog");
    function wireTraceButtons() {
      holder.querySelectorAll("button.trace").forEach(button => {
        if (button.dataset.wired) return;
        button.dataset.wired = "1";
        button.addEventListener("click", () => {
          dialog.querySelector("[name=targetPid]").value = button.dataset.pid;
          dialog.querySelector(".target").textContent = `${button.dataset.name} (pid ${button.dataset.pid})`;
          dialog.querySelector(".error-box")?.remove();
          dialog.showModal();
        });
      });
    }
    wireTraceButtons();
    dialog.querySelector("button.cancel").addEventListener("click", () => dialog.close());
    dialog.querySelector("form").addEventListener("submit", async event => {
      event.preventDefault();
      const form = event.target;
      const spec = formJson(form);
      spec.kind = "TRACE";
      const filter = spec.syscalls;
      delete spec.syscalls;
      if (filter) spec.syscalls = filter.split(/[\s,]+/).filter(Boolean);
      const submit = form.querySelector("button[type=submit]");
      submit.disabled = true;
      try {
        let session;
        try {
          session = await api("POST", "/api/v1/sessions", spec);
        } catch (e) {
          // A server without a syscall filter field refuses it: the trace page filters on its own then.
          if (!spec.syscalls || !/^400/.test(e.message)) throw e;
          delete spec.syscalls;
          session = await api("POST", "/api/v1/sessions", spec);
        }
        const q = filter ? `?filter=${encodeURIComponent(filter)}` : "";
        window.location.assign(`/sessions/${encodeURIComponent(session.id)}${q}`);
      } catch (e) {
        showError(form, e.message);
      } finally {
        submit.disabled = false;
      }
    });
  }

  /**
   * Requests page: the table reloads itself (htmx, on a "refresh" event) every 10 s, unless the user is typing in it.
   * A script rather than an hx-trigger filter: the page's CSP allows no evaluated code.
   */
  function requestsPage() {
    if (!document.getElementById("requests-table")) return;
    setInterval(() => {
      const table = document.getElementById("requests-table");   // replaced by each refresh
      if (table && !table.querySelector(":focus")) htmx.trigger(table, "refresh");
    }, 10000);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("button[data-reload]").forEach(b => b.addEventListener("click", () => location.reload()));
    requestsPage();
    wireApiForms(document);
    document.body.addEventListener("htmx:afterSettle", () => wireApiForms(document));
    fleetPage();
    vmPage();
    const listed = document.getElementById("sessions-table");
    if (listed) wireTableFilter(listed, [...document.querySelectorAll("[data-filter]")]);
  });

  return { api, formJson, sparkline, wireApiForms };
})();
