// estime notebook widgets: the front end (an anywidget ES module).
// Plain DOM, no dependencies, nothing fetched. HTML fragments come from the kernel already
// escaped (estime/_render.py); every other text is set with textContent.

const SVG = "http://www.w3.org/2000/svg";

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(cls, text, title) {
  const b = el("button", "es-btn " + cls, text);
  b.type = "button";
  if (title) b.title = title;
  return b;
}

function labelled(text, input) {
  const l = el("label", "es-label");
  l.append(el("span", "", text), input);
  return l;
}

function numberInput(cls) {
  const i = el("input", cls);
  i.type = "number";
  i.step = "1";
  // Enter commits the typed number (a "change" event), as leaving the field does
  i.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") i.dispatchEvent(new Event("change"));
  });
  return i;
}

function fmt(n) {
  return Number(n).toLocaleString("en-US");
}

// Timestamps for benchmarks: set window.__estimeTrace = [] to collect them.
function trace(label) {
  const t = globalThis.__estimeTrace;
  if (Array.isArray(t)) t.push([label, performance.now()]);
}

// Listen to model events; the returned function removes every listener.
function listeners(model) {
  const subs = [];
  return {
    on(name, fn) {
      model.on(name, fn);
      subs.push([name, fn]);
    },
    off() {
      for (const [name, fn] of subs) model.off(name, fn);
    },
  };
}

function errorBanner(model, subs) {
  const b = el("div", "es-error");
  const update = () => {
    const msg = model.get("error");
    b.textContent = msg;
    b.hidden = !msg;
  };
  subs.on("change:error", update);
  update();
  return b;
}

function htmlView(model, subs, trait, cls) {
  const node = el("div", cls);
  let shown = null;
  // html comes from the kernel, escaped there (estime/_views.py)
  node.show = (html) => {
    if (html === shown) return false;
    node.innerHTML = html;
    shown = html;
    return true;
  };
  subs.on("change:" + trait, () => node.show(model.get(trait)));
  node.show(model.get(trait));
  return node;
}

function pagerView(model, subs, describe) {
  const box = el("div", "es-pager");
  const prev = button("es-page-prev", "‹", "previous page");
  const next = button("es-page-next", "›", "next page");
  const label = el("span", "es-page-label");
  box.append(prev, label, next);
  const update = () => {
    const p = model.get("pager") || {};
    box.hidden = !p.pages || p.pages <= 1;
    label.textContent = describe(p);
    prev.disabled = !(p.page > 0);
    next.disabled = !(p.page < p.pages - 1);
  };
  const go = (d) => {
    const p = model.get("pager") || {};
    model.set("page", Math.max(0, Math.min((p.pages || 1) - 1, (p.page || 0) + d)));
    model.save_changes();
  };
  prev.addEventListener("click", () => go(-1));
  next.addEventListener("click", () => go(1));
  subs.on("change:pager", update);
  update();
  return box;
}

// A small line chart (SVG) of one or more series over seq, with a movable cursor.
function lineChart(cls) {
  const W = 420, H = 120, L = 48, R = 8, T = 8, B = 18;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "es-chart " + cls);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("width", String(W));
  svg.setAttribute("height", String(H));
  let xmax = 1, xmin = 0;
  const cursor = document.createElementNS(SVG, "line");
  cursor.setAttribute("class", "es-chart-cursor");
  const x = (s) => L + ((s - xmin) / Math.max(1, xmax - xmin)) * (W - L - R);
  function text(tx, ty, s, anchor) {
    const t = document.createElementNS(SVG, "text");
    t.setAttribute("x", String(tx));
    t.setAttribute("y", String(ty));
    t.setAttribute("text-anchor", anchor || "start");
    t.textContent = s;
    svg.appendChild(t);
  }
  return {
    svg,
    draw(seqs, series, colors, marks) {
      svg.replaceChildren();
      const all = series.flat().filter((v) => v !== null && Number.isFinite(v));
      if (!seqs.length || !all.length) return false;
      xmin = seqs[0];
      xmax = seqs[seqs.length - 1];
      let lo = Math.min(...all), hi = Math.max(...all);
      if (lo === hi) { lo -= 1; hi += 1; }
      const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
      const frame = document.createElementNS(SVG, "rect");
      frame.setAttribute("class", "es-chart-frame");
      frame.setAttribute("x", String(L));
      frame.setAttribute("y", String(T));
      frame.setAttribute("width", String(W - L - R));
      frame.setAttribute("height", String(H - T - B));
      svg.appendChild(frame);
      series.forEach((vals, k) => {
        let d = "", pen = false;
        vals.forEach((v, i) => {
          if (v === null || !Number.isFinite(v)) { pen = false; return; }
          d += (pen ? " H" + x(seqs[i]).toFixed(1) + " V" : " M" + x(seqs[i]).toFixed(1) + " ") + y(v).toFixed(1);
          pen = true;
        });
        const path = document.createElementNS(SVG, "path");
        path.setAttribute("d", d.trim());
        path.setAttribute("class", "es-chart-line es-series-" + k);
        path.setAttribute("stroke", colors[k] || "#4e79a7");
        svg.appendChild(path);
      });
      for (const m of marks || []) {
        const line = document.createElementNS(SVG, "line");
        line.setAttribute("class", "es-chart-mark");
        line.setAttribute("x1", x(m).toFixed(1));
        line.setAttribute("x2", x(m).toFixed(1));
        line.setAttribute("y1", String(T));
        line.setAttribute("y2", String(H - B));
        svg.appendChild(line);
      }
      text(L - 4, T + 8, fmt(+hi.toPrecision(6)), "end");
      text(L - 4, H - B, fmt(+lo.toPrecision(6)), "end");
      text(L, H - 4, "seq " + fmt(xmin));
      text(W - R, H - 4, fmt(xmax), "end");
      cursor.setAttribute("y1", String(T));
      cursor.setAttribute("y2", String(H - B));
      svg.appendChild(cursor);
      return true;
    },
    move(seq) {
      const cx = x(Math.max(xmin, Math.min(xmax, seq))).toFixed(1);
      cursor.setAttribute("x1", cx);
      cursor.setAttribute("x2", cx);
    },
  };
}

// ------------------------------------------------------------------------- TimeSlider

function renderTimeSlider(model, root, subs) {
  root.classList.add("es-ts");
  root.tabIndex = 0;
  const n = () => model.get("n");

  const play = button("es-play", "▶", "play / pause (space)");
  const back = button("es-back", "◀", "step back (←)");
  const fwd = button("es-fwd", "▶|", "step forward (→)");
  back.textContent = "|◀";
  const range = el("input", "es-range");
  range.type = "range";
  range.min = "0";
  range.step = "1";
  const seqInput = numberInput("es-seq-input");
  seqInput.min = "0";
  seqInput.title = "type a seq and press Enter";
  const posLabel = el("span", "es-pos");
  const speed = el("select", "es-speed");
  for (const s of [1, 10, 100, 1000, 10000]) {
    const o = el("option", "", "×" + fmt(s));
    o.value = String(s);
    speed.appendChild(o);
  }
  speed.title = "events per step while playing";
  const controls = el("div", "es-controls");
  controls.append(play, back, fwd, range, labelled("seq", seqInput), posLabel, speed);

  // timeline strip
  const strip = el("div", "es-timeline");
  const canvas = el("canvas", "es-strip");
  const mark = el("div", "es-strip-cursor");
  strip.append(canvas, mark);
  const legend = el("div", "es-legend");

  // jumps
  const jumpType = el("select", "es-jump-type");
  const jumpStream = el("input", "es-jump-stream");
  jumpStream.type = "text";
  jumpStream.placeholder = "any stream";
  const listId = "es-streams-" + Math.random().toString(36).slice(2);
  const datalist = el("datalist");
  datalist.id = listId;
  jumpStream.setAttribute("list", listId);
  const prev = button("es-jump-prev", "◀ previous", "previous event of this type / stream");
  const next = button("es-jump-next", "next ▶", "next event of this type / stream");
  const jumps = el("div", "es-jumps");
  jumps.append(el("span", "es-muted", "jump to"), jumpType, jumpStream, datalist, prev, next);

  subs.on("change:event_html", () => trace("received"));
  const eventView = htmlView(model, subs, "event_html", "es-event-view");
  const changesView = htmlView(model, subs, "changes_html", "es-changes-view");
  const stateView = htmlView(model, subs, "state_html", "es-state-view");
  // bring the first changed entry into view inside the state panel (not the page); in the
  // next frame, so reading positions does not force a layout of the whole page now
  let revealing = 0;
  const revealChange = () => {
    cancelAnimationFrame(revealing);
    revealing = requestAnimationFrame(() => {
      const hit = stateView.querySelector(".es-changed, .es-has-change");
      if (!hit) return;
      const top = hit.offsetTop, bottom = top + hit.offsetHeight;
      const view = stateView.scrollTop, height = stateView.clientHeight;
      if (top < view || bottom > view + height) {
        stateView.scrollTop = Math.max(0, top - height / 3);
      }
    });
  };
  subs.on("change:state_html", () => revealChange());
  const pager = pagerView(model, subs, (p) =>
    `entries ${fmt(p.page * model.get("page_size") + 1)}–` +
    `${fmt(Math.min((p.page + 1) * model.get("page_size"), p.total - p.pinned))} of ` +
    `${fmt(p.total)} in ${p.path || "the state"}`);
  const chart = lineChart("es-track");
  const valueText = el("div", "es-value");
  const trackBox = el("div", "es-track-box");
  trackBox.append(chart.svg, valueText);

  const left = el("div", "es-left");
  left.append(el("div", "es-h", "event"), eventView, trackBox);
  const right = el("div", "es-right");
  right.append(el("div", "es-h", "state"), changesView, pager, stateView);
  const main = el("div", "es-main");
  main.append(left, right);
  root.append(errorBanner(model, subs), controls, strip, legend, jumps, main);

  // ---- the next position, rendered ahead by the kernel: shown at once when stepped to
  let ahead = null;
  subs.on("msg:custom", (msg) => {
    if (!msg || !("prefetch" in msg)) return;
    ahead = msg.prefetch;
    trace("ahead-received");
    if (ahead && pending === ahead.position) showAhead(pending);
  });
  function showAhead(pos) {
    if (!ahead || ahead.position !== pos) return;
    eventView.show(ahead.event_html);
    changesView.show(ahead.changes_html);
    if (stateView.show(ahead.state_html)) revealChange();
    valueText.textContent = ahead.value_text ? "value: " + ahead.value_text : "";
    chart.move(ahead.seq);
    seqInput.value = String(ahead.seq);
    trace("ahead");
  }

  // ---- requests to the kernel: the latest wins, one in flight at a time
  let inflight = false, pending = null, timer = null, watchdog = null;
  const target = () => (pending !== null ? pending : model.get("position"));
  function send(pos) {
    trace("send");
    inflight = true;
    model.set("position", pos);
    model.save_changes();
    clearTimeout(watchdog);
    watchdog = setTimeout(() => { inflight = false; }, 10000);
  }
  function request(pos) {
    pos = Math.max(0, Math.min(n(), Math.round(pos)));
    range.value = String(pos);
    posLabel.textContent = `${fmt(pos)} / ${fmt(n())}`;
    if (inflight) {
      pending = pos;
    } else {
      pending = null;
      if (pos !== model.get("position")) send(pos);
    }
    showAhead(pos);
  }
  const step = (d) => request(target() + d);

  // ---- views of the kernel's state
  let stripWidth = 1;
  function showPosition() {
    const pos = model.get("position");
    if (pending === null) range.value = String(pos);
    posLabel.textContent = `${fmt(pending !== null ? pending : pos)} / ${fmt(n())}`;
    if (document.activeElement !== seqInput) seqInput.value = String(model.get("seq"));
    const w = stripWidth;  // measured when the strip is drawn: no layout per step
    mark.style.left = (n() ? (pos / n()) * w : 0).toFixed(1) + "px";
    chart.move(model.get("seq"));
    valueText.textContent = model.get("value_text") ? "value: " + model.get("value_text") : "";
    back.disabled = pos <= 0;
    fwd.disabled = pos >= n();
  }
  function onRendered() {
    trace("rendered");
    inflight = false;
    clearTimeout(watchdog);
    if (pending !== null) {
      const p = pending;
      pending = null;
      if (p !== model.get("position")) { send(p); return; }
    }
    showPosition();
    if (model.get("playing")) {
      clearTimeout(timer);
      timer = setTimeout(tick, model.get("interval"));
    }
  }
  function tick() {
    if (!model.get("playing")) return;
    const pos = model.get("position");
    if (pos >= n()) {
      model.set("playing", false);
      model.save_changes();
      return;
    }
    request(pos + model.get("stride"));
  }
  function showPlaying() {
    const on = model.get("playing");
    play.textContent = on ? "❚❚" : "▶";
    play.classList.toggle("es-on", on);
    root.classList.toggle("es-playing", on);
    clearTimeout(timer);
    if (on && !inflight) timer = setTimeout(tick, 0);
  }
  function drawStrip() {
    const tl = model.get("timeline") || {};
    const w = Math.max(1, strip.clientWidth || 600), h = 24;
    stripWidth = w;
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    canvas.style.width = w + "px";
    canvas.style.height = h + "px";
    const g = canvas.getContext("2d");
    if (!g) return;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const nb = tl.bins || 0, nt = (tl.types || []).length;
    for (let b = 0; b < nb; b++) {
      let total = 0;
      for (let k = 0; k < nt; k++) total += tl.counts[b * nt + k];
      if (!total) continue;
      const x0 = (b / nb) * w, x1 = ((b + 1) / nb) * w;
      let y = 0;
      for (let k = 0; k < nt; k++) {
        const c = tl.counts[b * nt + k];
        if (!c) continue;
        const hh = (c / total) * h;
        g.fillStyle = tl.colors[k];
        g.fillRect(x0, y, Math.max(0.5, x1 - x0), hh);
        y += hh;
      }
    }
    showPosition();
  }
  function fillLists() {
    const tl = model.get("timeline") || {};
    legend.replaceChildren();
    (tl.types || []).forEach((ty, k) => {
      const item = el("span", "es-legend-item");
      const sw = el("span", "es-swatch");
      sw.style.background = tl.colors[k];
      item.append(sw, document.createTextNode(ty));
      legend.appendChild(item);
    });
    jumpType.replaceChildren();
    const any = el("option", "", "any type");
    any.value = "";
    jumpType.appendChild(any);
    for (const ty of model.get("types")) {
      const o = el("option", "", ty);
      o.value = ty;
      jumpType.appendChild(o);
    }
    jumpType.value = model.get("jump_type");
    datalist.replaceChildren();
    for (const s of model.get("streams")) {
      const o = el("option");
      o.value = s;
      datalist.appendChild(o);
    }
    jumpStream.value = model.get("jump_stream");
  }
  function drawTrack() {
    const tr = model.get("track") || {};
    const ok = chart.draw(tr.seq || [], [tr.value || []], ["#4e79a7"], []);
    chart.svg.style.display = ok ? "" : "none";
    showPosition();
  }

  range.max = String(n());
  fillLists();
  subs.on("change:rendered", onRendered);
  subs.on("change:position", showPosition);
  subs.on("change:seq", showPosition);
  subs.on("change:value_text", showPosition);
  subs.on("change:playing", showPlaying);
  subs.on("change:timeline", drawStrip);
  subs.on("change:track", drawTrack);
  subs.on("change:n", () => { range.max = String(n()); drawStrip(); });

  play.addEventListener("click", () => {
    model.set("playing", !model.get("playing"));
    model.save_changes();
    root.focus();
  });
  back.addEventListener("click", () => step(-1));
  fwd.addEventListener("click", () => step(1));
  range.addEventListener("input", () => request(Number(range.value)));
  seqInput.addEventListener("change", () => {
    const v = parseInt(seqInput.value, 10);
    if (Number.isNaN(v)) return;
    model.set("seq", Math.max(0, v));
    model.save_changes();
  });
  speed.addEventListener("change", () => {
    model.set("stride", Number(speed.value));
    model.save_changes();
  });
  canvas.addEventListener("click", (ev) => {
    const r = canvas.getBoundingClientRect();
    request(((ev.clientX - r.left) / Math.max(1, r.width)) * n());
  });
  const jump = (direction) => {
    model.set("jump_type", jumpType.value);
    model.set("jump_stream", jumpStream.value.trim());
    model.save_changes();
    model.send({ action: "jump", direction, type: jumpType.value, stream: jumpStream.value.trim() });
  };
  prev.addEventListener("click", () => jump(-1));
  next.addEventListener("click", () => jump(1));
  root.addEventListener("keydown", (ev) => {
    const tag = ev.target && ev.target.tagName;
    const typing = (tag === "INPUT" && ev.target.type !== "range") || tag === "SELECT" || tag === "TEXTAREA";
    if (typing) return;
    const big = ev.shiftKey ? 10 : 1;
    const keys = {
      ArrowRight: () => step(big), ArrowUp: () => step(big),
      ArrowLeft: () => step(-big), ArrowDown: () => step(-big),
      PageUp: () => step(-100), PageDown: () => step(100),
      Home: () => request(0), End: () => request(n()),
      " ": () => play.click(),
    };
    const act = keys[ev.key];
    if (act) { ev.preventDefault(); ev.stopPropagation(); act(); }
  });
  const resize = new ResizeObserver(() => drawStrip());
  resize.observe(strip);
  requestAnimationFrame(drawStrip);
  revealChange();
  drawTrack();
  showPlaying();
  return () => {
    cancelAnimationFrame(revealing);
    clearTimeout(timer);
    clearTimeout(watchdog);
    resize.disconnect();
  };
}

// ------------------------------------------------------------------------- DiffView

function renderDiffView(model, root, subs) {
  root.classList.add("es-dv");
  const a = numberInput("es-a");
  const b = numberInput("es-b");
  const filter = el("input", "es-filter");
  filter.type = "text";
  filter.placeholder = "filter paths";
  const controls = el("div", "es-controls");
  controls.append(labelled("from seq", a), labelled("to seq", b), filter);
  const summary = htmlView(model, subs, "summary_html", "es-summary");
  const table = htmlView(model, subs, "table_html", "es-table-view");
  const pager = pagerView(model, subs, (p) => `page ${fmt(p.page + 1)} of ${fmt(p.pages)} (${fmt(p.total)} changes)`);
  root.append(errorBanner(model, subs), controls, summary, pager, table);
  const show = () => {
    if (document.activeElement !== a) a.value = String(model.get("a"));
    if (document.activeElement !== b) b.value = String(model.get("b"));
    if (document.activeElement !== filter) filter.value = model.get("path_filter");
  };
  for (const [input, trait] of [[a, "a"], [b, "b"]]) {
    input.addEventListener("change", () => {
      const v = parseInt(input.value, 10);
      if (Number.isNaN(v)) return;
      model.set(trait, v);
      model.save_changes();
    });
  }
  filter.addEventListener("input", () => {
    model.set("path_filter", filter.value);
    model.save_changes();
  });
  subs.on("change:a", show);
  subs.on("change:b", show);
  show();
}

// ------------------------------------------------------------------------- EventTable

function renderEventTable(model, root, subs) {
  root.classList.add("es-et");
  root.tabIndex = 0;
  const type = el("select", "es-type");
  const stream = el("input", "es-stream");
  stream.type = "text";
  stream.placeholder = "stream";
  const text = el("input", "es-text");
  text.type = "search";
  text.placeholder = "search payloads";
  const info = el("span", "es-info");
  const controls = el("div", "es-controls");
  controls.append(type, stream, text, info);
  const table = htmlView(model, subs, "table_html", "es-table-view");
  const pager = pagerView(model, subs, (p) => `page ${fmt(p.page + 1)} of ${fmt(p.pages)}`);
  root.append(errorBanner(model, subs), controls, table, pager);
  function fill() {
    type.replaceChildren();
    const any = el("option", "", "all types");
    any.value = "";
    type.appendChild(any);
    for (const t of model.get("types")) {
      const o = el("option", "", t);
      o.value = t;
      type.appendChild(o);
    }
    type.value = model.get("type_filter");
  }
  const show = () => { info.textContent = model.get("info"); };
  const set = (trait, value) => { model.set(trait, value); model.save_changes(); };
  type.addEventListener("change", () => set("type_filter", type.value));
  stream.addEventListener("change", () => set("stream_filter", stream.value.trim()));
  let debounce = null;
  text.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => set("text", text.value), 200);
  });
  table.addEventListener("click", (ev) => {
    const row = ev.target.closest && ev.target.closest("tr[data-seq]");
    if (row) set("seq", parseInt(row.dataset.seq, 10));
  });
  root.addEventListener("keydown", (ev) => {
    if (ev.target !== root && ev.target.tagName !== "TR") return;
    const rows = [...table.querySelectorAll("tr[data-seq]")];
    const i = rows.findIndex((r) => r.classList.contains("es-selected"));
    const d = ev.key === "ArrowDown" ? 1 : ev.key === "ArrowUp" ? -1 : 0;
    if (!d || !rows.length) return;
    ev.preventDefault();
    const j = Math.max(0, Math.min(rows.length - 1, i + d));
    set("seq", parseInt(rows[j].dataset.seq, 10));
  });
  subs.on("change:info", show);
  subs.on("change:types", fill);
  fill();
  show();
}

// ------------------------------------------------------------------------- BranchView

function renderBranchView(model, root, subs) {
  root.classList.add("es-bv");
  const header = htmlView(model, subs, "header_html", "es-header");
  const edits = htmlView(model, subs, "edits_html", "es-edits");
  const divergence = htmlView(model, subs, "divergence_html", "es-divergence");
  const final = htmlView(model, subs, "final_html", "es-final");
  const at = htmlView(model, subs, "at_html", "es-at");
  const chart = lineChart("es-compare");
  const legend = el("div", "es-legend");
  const seqInput = numberInput("es-seq-input");
  const controls = el("div", "es-controls");
  controls.append(labelled("compare at seq", seqInput));
  const chartBox = el("div", "es-track-box");
  chartBox.append(chart.svg, legend);
  root.append(errorBanner(model, subs), header,
    el("div", "es-h", "edits"), edits,
    el("div", "es-h", "first divergence"), divergence,
    el("div", "es-h", "tracked value"), chartBox, controls, at,
    el("div", "es-h", "final difference"), final);
  function draw() {
    const tr = model.get("track") || {};
    const names = tr.names || ["parent", "branch"];
    const ok = chart.draw(tr.seq || [], [tr.a || [], tr.b || []], ["#4e79a7", "#f28e2b"],
      tr.divergence !== undefined && tr.divergence !== null ? [tr.divergence] : []);
    chartBox.style.display = ok ? "" : "none";
    legend.replaceChildren();
    names.forEach((name, k) => {
      const item = el("span", "es-legend-item");
      const sw = el("span", "es-swatch");
      sw.style.background = ["#4e79a7", "#f28e2b"][k];
      item.append(sw, document.createTextNode(name));
      legend.appendChild(item);
    });
    chart.move(model.get("seq"));
  }
  const show = () => {
    if (document.activeElement !== seqInput) seqInput.value = String(model.get("seq"));
    chart.move(model.get("seq"));
  };
  seqInput.addEventListener("change", () => {
    const v = parseInt(seqInput.value, 10);
    if (Number.isNaN(v)) return;
    model.set("seq", v);
    model.save_changes();
  });
  subs.on("change:track", draw);
  subs.on("change:seq", show);
  draw();
  show();
}

const RENDERERS = {
  timeslider: renderTimeSlider,
  diffview: renderDiffView,
  eventtable: renderEventTable,
  branchview: renderBranchView,
};

function render({ model, el: host }) {
  const subs = listeners(model);
  const root = el("div", "estime");
  // keys typed in a widget are the widget's: JupyterLab's notebook shortcuts stay out
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  host.appendChild(root);
  const kind = model.get("_kind");
  const draw = RENDERERS[kind];
  let cleanup = null;
  if (draw) {
    cleanup = draw(model, root, subs);
  } else {
    root.appendChild(el("div", "es-error", "unknown estime widget: " + kind));
  }
  return () => {
    if (typeof cleanup === "function") cleanup();
    subs.off();
    root.remove();
  };
}

export default { render };
