// The session page: the live event feed over SSE and the overhead charts (Chart.js), polled every second.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const main = document.getElementById("main");
  const id = main.dataset.session;
  const feed = document.getElementById("feed");
  const filterInput = document.getElementById("filter");
  const pauseButton = document.getElementById("pause");
  const autoscroll = document.getElementById("autoscroll");
  const rateLabel = document.getElementById("rate");
  const countsLabel = document.getElementById("counts");
  const stateBadge = document.getElementById("session-state");
  const MAX_ROWS = 500;       // rows kept in the DOM
  const MAX_QUEUE = 2000;     // events waiting for the next frame before the browser drops them

  let paused = false, pausedSkipped = 0, received = 0, shown = 0, dropped = 0, lastSecond = 0;
  let queue = [];
  let finished = /^(ENDED|LOST)$/.test(main.dataset.state);

  const time = at => (at ? String(at).substring(11, 23) : new Date().toISOString().substring(11, 23));

  /** One line of text for an event of each type but syscalls (SessionEvent.Type on the server). */
  function describe(type, data) {
    if (data == null) return "";
    if (type === "state") return `${String(data.state).toLowerCase()}${data.reason ? ": " + data.reason : ""}`;
    if (type === "notice") return data.message;
    if (type === "processes") {
      return `${(data.processes || []).length} processes, ${data.mode}, downtime ${(data.guestDowntimeMicros / 1000).toFixed(3)} ms`;
    }
    if (type === "trace") {
      return `tracing pid ${data.pid} (${data.name}) with ${data.method}: ${data.methodDescription || ""}`
        + (data.syscalls && data.syscalls.length ? `; only ${data.syscalls.join(", ")}` : "");
    }
    if (type === "process") return `${String(data.change).toLowerCase()} pid ${data.pid} ${data.name || ""} ${data.detail || ""}`;
    return JSON.stringify(data);
  }

  /** The call as strace writes it: name(arguments), each argument's decoded text or its value. */
  function call(data) {
    const args = (data.args || []).map(a => a.text != null ? a.text : String(a.value));
    return `${data.syscall || "syscall_" + data.number}(${args.join(", ")})`;
  }

  /** How the call ended: " = 3 <0.000021>", " = -1 ENOENT (...)", " = ?", " <unfinished ...>", or nothing. */
  function result(data) {
    switch (data.status) {
      case "RETURNED": return { text: ` = ${data.result} <${(Number(data.durationNs) / 1e9).toFixed(6)}>`, cls: data.errno ? "ret err" : "ret" };
      case "NO_RETURN": return { text: " = ?", cls: "ret" };
      case "UNFINISHED": return { text: " <unfinished ...>", cls: "ret unfinished" };
      default: return { text: "", cls: "ret" };
    }
  }

  /** A syscall row: the call, then its result in its own span (failures and unfinished calls styled apart). */
  function syscallRow(at, data) {
    const row = makeRow("syscall", at, call(data));
    const r = result(data);
    const span = document.createElement("span"); span.className = r.cls; span.textContent = r.text;
    const who = document.createTextNode(`  [pid ${data.pid} ${data.name || ""}] vcpu${data.vcpu}`);
    row.append(span, who);
    if (data.status) row.dataset.status = data.status.toLowerCase();
    return row;
  }

  function matches(row) {
    const f = filterInput.value.trim().toLowerCase();
    return !f || row.textContent.toLowerCase().includes(f);
  }

  function makeRow(kind, at, text, cls) {
    const row = document.createElement("div");
    row.className = `row ${cls || kind}`;
    const t = document.createElement("span"); t.className = "t"; t.textContent = time(at);
    const k = document.createElement("span"); k.className = "k"; k.textContent = kind;
    row.append(t, k, document.createTextNode(text));
    return row;
  }

  function append(row) {
    document.getElementById("feed-waiting")?.remove();
    row.hidden = !matches(row);
    feed.append(row);
    shown++;
    while (feed.childElementCount > MAX_ROWS) feed.firstElementChild.remove();
    if (autoscroll.checked) feed.scrollTop = feed.scrollHeight;
  }

  function dropMarker(count, why) {
    dropped += count;
    append(makeRow("dropped", null, `${count} event(s) not shown: ${why}`, "drop"));
  }

  let frame = 0;
  function flush() {
    frame = 0;
    if (queue.length > MAX_QUEUE) {
      const lost = queue.length - MAX_QUEUE;
      queue = queue.slice(lost);
      dropMarker(lost, "the browser fell behind");
    }
    // Only the newest MAX_ROWS can stay in the DOM: render those.
    if (queue.length > MAX_ROWS) queue = queue.slice(queue.length - MAX_ROWS);
    queue.forEach(e => append(e.type === "syscall" && e.data ? syscallRow(e.at, e.data)
      : makeRow(e.type, e.at, describe(e.type, e.data))));
    queue = [];
  }

  function onEvent(type, message) {
    received++;
    let event;
    try { event = JSON.parse(message.data); } catch (e) { event = { type, data: message.data }; }
    const data = event && "data" in event ? event.data : event;
    if (type === "dropped") {
      dropMarker(data && data.count || 0, !data || data.where === "STREAM" ? "the server dropped them (this reader was slow)"
        : `lost in the ${String(data.where).toLowerCase().replace("_", " ")}`);
      return;
    }
    if (type === "state" && data) {
      const state = String(data.state).toLowerCase();
      stateBadge.textContent = state;
      stateBadge.className = `badge ${state}`;
      if (/^(ended|lost)$/.test(state)) {
        finished = true;
        document.getElementById("end-reason").textContent = data.reason || "";
        document.getElementById("stop-form")?.remove();
      }
    }
    if (paused && type !== "state") { pausedSkipped++; return; }
    queue.push({ type, at: event && event.at, data });
    if (!frame) frame = requestAnimationFrame(flush);
  }

  // The stream: one named SSE event per SessionEvent.Type.
  const source = new EventSource(`/api/v1/sessions/${encodeURIComponent(id)}/events`, { withCredentials: true });
  ["state", "notice", "processes", "dropped", "syscall", "trace", "process"]
    .forEach(type => source.addEventListener(type, m => onEvent(type, m)));
  source.onerror = () => {
    if (finished) {
      source.close();
      const w = document.getElementById("feed-waiting");
      if (w) w.textContent = "the session has ended: no more events.";
      return;
    }
    if (source.readyState === EventSource.CLOSED) {
      append(makeRow("error", null, "the event stream closed; reload the page to reconnect", "drop"));
    }
  };

  pauseButton.addEventListener("click", () => {
    paused = !paused;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    pauseButton.setAttribute("aria-pressed", String(paused));
    if (!paused && pausedSkipped) {
      append(makeRow("paused", null, `${pausedSkipped} event(s) arrived while paused and were not shown`, "drop"));
      pausedSkipped = 0;
    }
  });
  filterInput.addEventListener("input", () => { for (const row of feed.children) row.hidden = !matches(row); });

  // ---- overhead charts ----
  const MAX_POINTS = 120;
  const colors = ["#1f5fbf", "#9ca3af", "#1a7f37", "#b42318", "#a16207"];
  /** A line chart; datasets listed in rightAxis use a second y axis (the hypervisor's counts dwarf what is delivered). */
  function chart(canvasId, labels, rightAxis = [], rightTitle = "") {
    const scales = { x: { ticks: { maxTicksLimit: 6 } }, y: { beginAtZero: true, title: { display: rightAxis.length > 0, text: "to Periscope" } } };
    if (rightAxis.length) scales.y1 = { beginAtZero: true, position: "right", grid: { drawOnChartArea: false }, title: { display: true, text: rightTitle } };
    return new Chart(document.getElementById(canvasId), {
      type: "line",
      data: { labels: [], datasets: labels.map((label, i) => ({ label, data: [], borderColor: colors[i], backgroundColor: colors[i],
        borderWidth: 1.5, pointRadius: 0, tension: 0.2, yAxisID: rightAxis.includes(label) ? "y1" : "y",
        borderDash: rightAxis.includes(label) ? [4, 3] : [] })) },
      options: { animation: false, responsive: true, maintainAspectRatio: false, scales,
        plugins: { legend: { labels: { boxWidth: 10 } } } }
    });
  }
  const events = chart("chart-events", ["seen", "filtered", "delivered", "dropped", "on this stream"],
    ["seen", "filtered"], "in the hypervisor");
  const wait = chart("chart-wait", ["vCPU wait", "snapshot downtime"]);
  const slowdown = chart("chart-slowdown", ["estimated slowdown"]);
  window.periscopeCharts = { events, wait, slowdown };

  const sum = (list, re) => list.filter(s => re.test(s.metric)).reduce((a, s) => a + s.total, 0);
  const mean = (list, re) => { const m = list.filter(s => re.test(s.metric)); return m.length ? m.reduce((a, s) => a + s.mean, 0) / m.length : 0; };
  let last = null, lastReceived = 0;

  function push(c, label, values) {
    c.data.labels.push(label);
    c.data.datasets.forEach((d, i) => d.data.push(values[i]));
    if (c.data.labels.length > MAX_POINTS) { c.data.labels.shift(); c.data.datasets.forEach(d => d.data.shift()); }
    c.update("none");
    c.canvas.dataset.points = String(c.data.labels.length);
  }

  async function pollOverhead() {
    const status = document.getElementById("overhead-status");
    try {
      const list = await Periscope.api("GET", `/api/v1/sessions/${encodeURIComponent(id)}/overhead`);
      const now = Date.now();
      const totals = {
        seen: sum(list, /^seen$/), filtered: sum(list, /^filtered$/), delivered: sum(list, /^delivered$/),
        dropped: sum(list, /dropped$/), wait: sum(list, /wait/i), downtime: sum(list, /downtime/i)
      };
      const label = new Date(now).toLocaleTimeString();
      if (last) {
        const dt = Math.max(0.001, (now - last.at) / 1000);
        const rate = k => Math.max(0, (totals[k] - last.totals[k]) / dt);
        const waitMs = rate("wait") / (list.some(s => /wait_ns/i.test(s.metric)) ? 1e6 : list.some(s => /wait_us/i.test(s.metric)) ? 1e3 : 1);
        push(events, label, [rate("seen"), rate("filtered"), rate("delivered"), rate("dropped"), (received - lastReceived) / dt]);
        push(wait, label, [waitMs, rate("downtime") / 1000]);
        const estimated = mean(list, /slowdown/i);
        push(slowdown, label, [estimated <= 1 && list.some(s => /slowdown/i.test(s.metric) && s.max <= 1) ? estimated * 100 : estimated]);
      }
      lastReceived = received;
      last = { at: now, totals };
      status.textContent = list.length
        ? `${list.length} overhead metric(s): ${list.map(s => s.metric).join(", ")}`
        : "no overhead counters recorded for this session yet (the charts show what this page receives)";
    } catch (e) {
      status.textContent = `overhead unavailable: ${e.message}`;
    }
  }
  pollOverhead();
  setInterval(pollOverhead, 1000);

  setInterval(() => {
    const perSecond = received - lastSecond;
    lastSecond = received;
    rateLabel.textContent = `${perSecond} events/s`;
    countsLabel.textContent = `${received} received, ${dropped} dropped${paused ? `, ${pausedSkipped} skipped while paused` : ""}`;
  }, 1000);
});
