// The tidygram ops page: polls state (the ops server's bounded ring of
// samples and its findings) and draws each chart as an SVG line chart.
// Plain JavaScript, no dependencies. Each chart's figure carries
// data-points (points of its longest series) and data-series (the names).
'use strict';
(() => {
  const SVG = 'http://www.w3.org/2000/svg';
  const W = 600, H = 160, L = 56, R = 8, T = 8, B = 18; // view box and margins
  const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#4b5563'];
  const MAX_OWNERS = 6; // owner lines drawn besides the total

  let samples = [];  // oldest first, at most the server's capacity
  let lastT = 0;     // the newest sample's time: the next poll asks for later ones

  function node(tag, attrs, parent, ns) {
    const e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  function fmtNum(v) {
    if (v === null || v === undefined) return '–';
    if (Math.abs(v) >= 100 || Number.isInteger(v)) return Math.round(v).toLocaleString('en');
    return String(Number(v.toPrecision(3)));
  }

  function fmtBytes(v) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    for (; Math.abs(v) >= 1024 && i < units.length - 1; i++) v /= 1024;
    return (i ? v.toFixed(1) : Math.round(v)) + ' ' + units[i];
  }

  function fmtAge(ms) {
    const s = Math.round(ms / 1000);
    return s < 120 ? s + ' s' : Math.round(s / 60) + ' min';
  }

  // niceMax rounds a chart's top up to 1, 2 or 5 times a power of ten
  // (of the unit fmtBytes shows it in, for bytes).
  function niceMax(v, fmt) {
    if (!(v > 0)) return 1;
    const unit = fmt === fmtBytes ? Math.pow(1024, Math.floor(Math.log(v) / Math.log(1024))) : 1;
    const p = Math.pow(10, Math.floor(Math.log10(v / unit)));
    return [1, 2, 5, 10].map(m => m * p * unit).find(m => m >= v);
  }

  // series builds a named line from the samples; get returns null for a gap.
  function series(name, get) {
    const points = [];
    for (const s of samples) {
      const v = get(s);
      if (v !== null && v !== undefined && v >= 0) points.push([s.t, v]);
    }
    return {name, points};
  }

  // chart draws lines [{name, points: [[t, v], …]}] into the figure with
  // the given id, values formatted by fmt.
  function chart(id, lines, fmt) {
    const fig = document.getElementById(id);
    fig.querySelectorAll('svg, ul').forEach(e => e.remove());
    const all = lines.flatMap(l => l.points);
    const t1 = samples.length ? samples[samples.length - 1].t : 0;
    const t0 = samples.length ? samples[0].t : 0;
    const top = niceMax(Math.max(0, ...all.map(p => p[1])), fmt);
    const x = t => L + (t1 > t0 ? (t - t0) / (t1 - t0) : 1) * (W - L - R);
    const y = v => H - B - v / top * (H - T - B);
    const svg = node('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': fig.firstElementChild.textContent}, fig, SVG);
    for (const v of [0, top / 2, top]) {
      node('line', {x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid'}, svg, SVG);
      node('text', {x: L - 4, y: y(v) + 4, class: 'axis', 'text-anchor': 'end'}, svg, SVG).textContent = fmt(v);
    }
    node('text', {x: L, y: H - 4, class: 'axis'}, svg, SVG).textContent = '-' + fmtAge(t1 - t0);
    node('text', {x: W - R, y: H - 4, class: 'axis', 'text-anchor': 'end'}, svg, SVG).textContent = 'now';
    const legend = node('ul', {class: 'legend'}, fig);
    lines.forEach((l, i) => {
      const color = COLORS[i % COLORS.length];
      node('polyline', {points: l.points.map(p => x(p[0]).toFixed(1) + ',' + y(p[1]).toFixed(1)).join(' '),
        stroke: color, class: 'line', 'data-name': l.name, 'data-max': Math.max(0, ...l.points.map(p => p[1]))}, svg, SVG);
      const li = node('li', {}, legend);
      node('span', {class: 'swatch'}, li).style.background = color; // CSSOM: allowed by the page's CSP
      const last = l.points.length ? l.points[l.points.length - 1][1] : null;
      li.append(l.name + ' ' + (last === null ? '–' : fmt(last)));
    });
    fig.dataset.points = Math.max(0, ...lines.map(l => l.points.length));
    fig.dataset.series = lines.map(l => l.name).join('|');
  }

  function renderCharts(st) {
    // Owners come from goroutine profiles, which not every sample has.
    const newest = samples.findLast(s => s.owners)?.owners || {};
    const owners = Object.keys(newest).sort((a, b) => newest[b] - newest[a]).slice(0, MAX_OWNERS);
    chart('chart-goroutines', [series('total', s => s.goroutines),
      ...owners.map(o => series(o, s => s.owners ? s.owners[o] || 0 : null))], fmtNum);

    chart('chart-heap', [series('in use', s => s.heap_inuse), series('live after GC', s => s.heap_live)], fmtBytes);
    const tr = st.heap_trend;
    document.getElementById('heap-trend').textContent = tr ?
      `trend ${tr.bytes_per_min >= 0 ? '+' : ''}${fmtBytes(tr.bytes_per_min)}/min over ${fmtAge(tr.span_s * 1000)}` +
      (tr.sustained ? ' — sustained growth' : '') : '';

    chart('chart-updates', [series('received', s => s.received_per_s), series('handled', s => s.updates_per_s)], fmtNum);
    chart('chart-latency', [series('p50', s => s.p50_ms), series('p99', s => s.p99_ms)], fmtNum);
    chart('chart-api', [series('calls', s => s.api_per_s), series('429', s => s.api_429_per_s)], fmtNum);
    const spool = document.getElementById('chart-spool');
    spool.hidden = !samples.some(s => s.spool_depth !== undefined);
    if (!spool.hidden) chart('chart-spool', [series('depth', s => s.spool_depth)], fmtNum);
  }

  function renderFindings(findings, now) {
    const body = document.querySelector('#findings tbody');
    body.replaceChildren();
    for (const f of findings) {
      const tr = node('tr', {'data-kind': f.kind, 'data-owner': f.owner}, body);
      const count = f.owner === 'heap_live_bytes' ? fmtBytes(f.count) : fmtNum(f.count);
      for (const v of [f.kind, f.owner, count, fmtNum(f.reports), fmtAge(now - Date.parse(f.at)) + ' ago']) {
        node('td', {}, tr).textContent = v;
      }
      const details = node('details', {}, node('td', {}, tr));
      node('summary', {}, details).textContent = f.title;
      node('pre', {}, details).textContent = f.detail;
    }
    document.getElementById('no-findings').hidden = findings.length > 0;
  }

  function status(text, bad) {
    const e = document.getElementById('status');
    e.textContent = text;
    e.className = bad ? 'bad' : '';
  }

  async function poll() {
    let wait = 2000;
    try {
      const r = await fetch('state?since=' + lastT, {credentials: 'same-origin', cache: 'no-store'});
      if (r.status === 401) {
        status('Signed out: open this page again with #token=…', true);
        return setTimeout(poll, 5000);
      }
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const st = await r.json();
      wait = Math.max(st.interval_ms, 250);
      if (st.samples.length && st.samples[0].t <= lastT) samples = []; // the server restarted
      samples.push(...st.samples);
      samples.splice(0, Math.max(0, samples.length - st.capacity));
      if (samples.length) lastT = samples[samples.length - 1].t;
      renderCharts(st);
      renderFindings(st.findings, st.now);
      status(`${samples.length} of ${st.capacity} samples, every ${st.interval_ms} ms`);
    } catch (e) {
      status('Cannot read state: ' + e.message, true);
    }
    setTimeout(poll, wait);
  }

  // The token's fragment, when the session cookie let the page load at
  // once, leaves the address bar too.
  function dropFragment() {
    if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  }
  window.addEventListener('hashchange', dropFragment);
  dropFragment();
  poll();
})();
