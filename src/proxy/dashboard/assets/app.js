// dario dashboard: reads /dashboard/state and the live feed /dashboard/events (fetch streaming,
// so the API key can travel as a header). No framework, no eval, nothing inline.
'use strict';

const $ = (id) => document.getElementById(id);
const KEY = 'dario-api-key';
let apiKey = sessionStorage.getItem(KEY) || '';
let since = 'since' in localStorage ? localStorage.since : '24h';
let state = null;
let feedAbort = null;
let selected = null;

function headers() {
  const h = { accept: 'application/json' };
  if (apiKey) h['x-api-key'] = apiKey;
  return h;
}

class AuthError extends Error {}

async function getJson(path) {
  const r = await fetch(path, { headers: headers(), cache: 'no-store' });
  if (r.status === 401) throw new AuthError('dario needs its API key');
  if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
  return r.json();
}

// ---- formatting ----
const int = (n) => (n == null ? '–' : Math.round(n).toLocaleString('en-US'));
const usd = (n) => (n == null ? '–' : '$' + (n >= 100 ? n.toFixed(2) : n.toFixed(4)));
const ms = (n) => (n == null ? '–' : n >= 1000 ? (n / 1000).toFixed(2) + ' s' : n.toFixed(n < 10 ? 2 : 0) + ' ms');
const pct = (n) => (n == null ? '–' : (n * 100).toFixed(1) + '%');

function setNum(id, value, text) {
  const el = $(id);
  el.textContent = text;
  el.dataset.value = value == null ? '' : String(value);
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text == null ? '' : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function fillTable(id, rows, build) {
  const body = $(id).querySelector('tbody');
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement('tr');
    build(tr, r);
    body.appendChild(tr);
  }
}

function cacheHit(t) {
  const prompt = t.input + t.cache_read + t.cache_write;
  return prompt > 0 ? t.cache_read / prompt : null;
}

// ---- charts (SVG bars) ----
function bars(svgId, values, errors) {
  const svg = $(svgId);
  svg.replaceChildren();
  const n = values.length || 1;
  const max = Math.max(1, ...values);
  const w = 600 / n;
  const ns = 'http://www.w3.org/2000/svg';
  values.forEach((v, i) => {
    const h = (v / max) * 115;
    const rect = document.createElementNS(ns, 'rect');
    rect.setAttribute('x', String(i * w + w * 0.1));
    rect.setAttribute('width', String(Math.max(w * 0.8, 0.5)));
    rect.setAttribute('y', String(120 - h));
    rect.setAttribute('height', String(h));
    rect.setAttribute('class', errors && errors[i] ? 'bar err' : 'bar');
    const title = document.createElementNS(ns, 'title');
    title.textContent = String(v);
    rect.appendChild(title);
    svg.appendChild(rect);
  });
}

// ---- rendering ----
function renderTotals() {
  const s = state.summary;
  const t = s.window.totals;
  setNum('total-requests', t.requests, int(t.requests));
  setNum('total-errors', t.errors, int(t.errors));
  setNum('total-tokens', t.tokens.total, int(t.tokens.total));
  setNum('total-cost', t.cost_usd, usd(t.cost_usd));
  setNum('cache-hit', cacheHit(t.tokens), pct(cacheHit(t.tokens)));
  setNum('cost-today', state.today.cost_usd, usd(state.today.cost_usd));
  setNum('requests-today', state.today.requests, int(state.today.requests));
  const burn = s.window.burn || {};
  $('burn-usd').textContent = usd(burn.usd_per_hour) + '/h';
  $('burn-tokens').textContent = int(burn.tokens_per_min) + ' tok/min';
  setNum('lat-p50', t.latency_ms.p50, ms(t.latency_ms.p50));
  setNum('lat-p95', t.latency_ms.p95, ms(t.latency_ms.p95));
  setNum('ttfb-p50', t.ttfb_ms.p50, ms(t.ttfb_ms.p50));
  setNum('ttfb-p95', t.ttfb_ms.p95, ms(t.ttfb_ms.p95));
  setNum('ovh-p50', t.overhead_ms.p50, ms(t.overhead_ms.p50));
  setNum('ovh-p95', t.overhead_ms.p95, ms(t.overhead_ms.p95));
}

function renderRecent() {
  fillTable('recent', state.recent, (tr, r) => {
    const t = r.tokens || {};
    const total = t.total != null ? t.total : (r.usage ? r.usage.input_tokens + r.usage.output_tokens : 0);
    cell(tr, (r.timestamp || '').replace('T', ' ').replace('Z', ''));
    cell(tr, r.status, r.status >= 400 || r.status === 0 ? 'status-err' : 'status-ok');
    cell(tr, r.client || '');
    cell(tr, r.upstream_model || r.requested_model);
    cell(tr, r.backend + (r.deployment ? '/' + r.deployment : ''));
    cell(tr, int(total));
    cell(tr, usd(r.cost_usd));
    cell(tr, ms(r.latency_ms));
    cell(tr, (r.dropped || []).join(', '));
    tr.dataset.requestId = r.request_id;
    if (selected === r.request_id) tr.classList.add('selected');
    tr.addEventListener('click', () => showDetails(r));
  });
}

function showDetails(r) {
  selected = r.request_id;
  const pre = $('details');
  pre.hidden = false;
  pre.textContent = JSON.stringify(r, null, 2);
  for (const tr of $('recent').querySelectorAll('tbody tr')) {
    tr.classList.toggle('selected', tr.dataset.requestId === selected);
  }
}

function render() {
  const s = state.summary;
  $('version').textContent = 'v' + state.version + ' · up ' + int(state.uptime_secs) + ' s';
  const h = state.history;
  const hs = $('history-state');
  hs.textContent = 'history: ' + (h ? h.state : 'off');
  hs.className = 'badge ' + (h && h.state === 'ok' ? 'ok' : 'bad');
  hs.title = h && h.error ? h.error : (h ? h.path : '');
  renderTotals();
  bars('chart-requests', s.window.buckets.map((b) => b.requests), s.window.buckets.map((b) => b.errors));
  bars('chart-tokens', s.window.buckets.map((b) => b.tokens));
  fillTable('models', s.window.by_model, (tr, g) => {
    cell(tr, g.backend); cell(tr, g.model); cell(tr, int(g.requests)); cell(tr, int(g.errors));
    cell(tr, int(g.tokens.input)); cell(tr, int(g.tokens.output));
    cell(tr, int(g.tokens.cache_read)); cell(tr, int(g.tokens.cache_write));
    cell(tr, pct(cacheHit(g.tokens))); cell(tr, usd(g.cost_usd));
    cell(tr, ms(g.latency_ms.p50)); cell(tr, ms(g.latency_ms.p95)); cell(tr, ms(g.ttfb_ms.p50));
  });
  fillTable('backends', s.window.by_backend, (tr, g) => {
    cell(tr, g.backend); cell(tr, int(g.requests)); cell(tr, int(g.errors));
    cell(tr, int(g.tokens.total)); cell(tr, usd(g.cost_usd));
    cell(tr, ms(g.latency_ms.p50)); cell(tr, ms(g.latency_ms.p95));
  });
  const deps = [];
  for (const b of (state.pool && state.pool.backends) || []) {
    for (const d of b.deployments) deps.push([b.backend, d]);
  }
  fillTable('pool', deps, (tr, [backend, d]) => {
    cell(tr, backend); cell(tr, d.alias);
    const td = cell(tr, '');
    const meter = document.createElement('span');
    meter.className = 'meter';
    const fill = document.createElement('span');
    fill.style.width = Math.round(d.headroom * 100) + '%';
    meter.appendChild(fill);
    td.appendChild(meter);
    td.appendChild(document.createTextNode(' ' + pct(d.headroom)));
    cell(tr, d.in_flight);
    cell(tr, d.cooling ? ms(d.cooldown_remaining_ms) + (d.cooldown_reason ? ' (' + JSON.stringify(d.cooldown_reason) + ')' : '') : '—');
    cell(tr, d.last_status == null ? '—' : d.last_status);
    cell(tr, d.responses); cell(tr, d.failures);
  });
  renderRecent();
  fillTable('sessions', s.sessions || [], (tr, x) => {
    cell(tr, x.session_id); cell(tr, x.client); cell(tr, int(x.requests)); cell(tr, int(x.tokens));
    cell(tr, usd(x.cost_usd)); cell(tr, (x.models || []).join(', ')); cell(tr, x.last);
  });
  const rt = state.routing;
  $('default-backend').textContent = rt.default_backend || '(none)';
  $('template-digest').textContent = (rt.template_digest || '').slice(0, 12);
  fillTable('routes', rt.routes, (tr, r) => {
    cell(tr, r.model); cell(tr, r.backend); cell(tr, r.upstream_model || ''); cell(tr, (r.fallbacks || []).join(', '));
  });
  fillTable('aliases', Object.entries(rt.aliases || {}), (tr, [a, t]) => { cell(tr, a); cell(tr, t); });
  $('generated').textContent = 'as of ' + state.generated_at;
  $('source').textContent = 'numbers from ' + (s.source || 'memory') + ', window ' + since;
}

// A finished request from the feed: counted at once (the next state snapshot replaces the
// running totals with the server's own).
function onRecord(r) {
  if (!state) return;
  const t = state.summary.window.totals;
  const tok = r.tokens;
  t.requests += 1;
  if (r.status >= 400 || r.status === 0) t.errors += 1;
  t.tokens.total += tok.total; t.tokens.input += tok.input; t.tokens.output += tok.output;
  t.tokens.cache_read += tok.cache_read; t.tokens.cache_write += tok.cache_write;
  t.cost_usd += r.cost_usd;
  state.today.requests += 1;
  state.today.cost_usd += r.cost_usd;
  state.recent.unshift(r);
  state.recent.length = Math.min(state.recent.length, 50);
  renderTotals();
  renderRecent();
}

function setLive(text, ok) {
  const el = $('live');
  el.textContent = text;
  el.className = 'badge ' + (ok ? 'ok' : 'off');
}

async function follow() {
  if (feedAbort) feedAbort.abort();
  const ctrl = new AbortController();
  feedAbort = ctrl;
  try {
    const r = await fetch('/dashboard/events?since=' + encodeURIComponent(since), {
      headers: headers(), cache: 'no-store', signal: ctrl.signal,
    });
    if (r.status === 401) throw new AuthError('dario needs its API key');
    if (!r.ok || !r.body) throw new Error('feed: HTTP ' + r.status);
    setLive('live', true);
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value.replace(/\r\n/g, '\n');
      let end;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        let event = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (!data.length) continue;
        const payload = JSON.parse(data.join('\n'));
        if (event === 'record') {
          onRecord(payload);
          setLive('live · ' + new Date().toLocaleTimeString(), true);
          $('live').dataset.records = String(Number($('live').dataset.records || 0) + 1);
        } else if (event === 'state') {
          state = payload;
          render();
        }
      }
    }
    setLive('reconnecting…', false);
  } catch (e) {
    if (ctrl.signal.aborted) return;
    if (e instanceof AuthError) { showLogin(e.message); return; }
    setLive('reconnecting…', false);
  }
  if (feedAbort === ctrl) setTimeout(follow, 2000);
}

function showLogin(message) {
  $('main').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  $('key').focus();
}

async function load() {
  try {
    state = await getJson('/dashboard/state?since=' + encodeURIComponent(since));
  } catch (e) {
    if (e instanceof AuthError) { showLogin(apiKey ? 'that key was refused' : ''); return; }
    setLive('error: ' + e.message, false);
    return;
  }
  $('login').hidden = true;
  $('main').hidden = false;
  render();
  follow();
}

document.addEventListener('DOMContentLoaded', () => {
  $('since').value = since;
  $('since').addEventListener('change', () => {
    since = $('since').value;
    localStorage.since = since;
    load();
  });
  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    apiKey = $('key').value.trim();
    sessionStorage.setItem(KEY, apiKey);
    load();
  });
  load();
});
