// The page: calls only the JSON API (/api/...) and shows results in the 3D viewer (viewer.js, three.js).
const $ = (id) => document.getElementById(id);
const state = { viewer: null, viewerError: null, result: null, busy: false };
window.unimotion = state;  // for people poking around and for the browser test

function setStatus(text, kind = 'info') {
  const el = $('status');
  el.textContent = text;
  el.dataset.kind = kind;
}

async function api(path, options = {}) {
  let resp;
  try {
    resp = await fetch(path, options);
  } catch (e) {
    throw new Error(`the server cannot be reached (${e.message})`);
  }
  const type = resp.headers.get('content-type') || '';
  const body = type.includes('application/json') ? await resp.json() : null;
  if (!resp.ok) {
    const err = body && body.error ? body.error : { code: 'http_error', message: `HTTP ${resp.status}` };
    const e = new Error(err.message);
    e.code = err.code;
    e.retryAfter = resp.headers.get('retry-after');
    throw e;
  }
  return body;
}

async function runTask(label, call) {
  if (state.busy) return;
  state.busy = true;
  document.body.classList.add('working');
  setStatus(`${label}…`);
  const started = performance.now();
  try {
    const result = await call();
    showResult(result);
    setStatus(`${label}: done in ${((performance.now() - started) / 1000).toFixed(1)} s`, 'ok');
  } catch (e) {
    const prefix = e.code === 'busy' ? 'The server is busy' : e.code === 'timeout' ? 'Timed out' : 'Error';
    setStatus(`${prefix}: ${e.message}`, 'error');
  } finally {
    state.busy = false;
    document.body.classList.remove('working');
  }
}

// ------------------------------------------------------------------------------------------ viewer
async function initViewer() {
  try {
    const mod = await import('./viewer.js');
    if (!mod.webglAvailable()) throw new Error('this browser has no WebGL');
    const viewer = new mod.MotionViewer($('viewer'));
    viewer.addEventListener('frame', (ev) => {
      $('scrub').value = String(ev.detail.frame);
      $('frame-label').textContent = `${ev.detail.frame + 1} / ${ev.detail.frames}`;
    });
    viewer.addEventListener('state', (ev) => { $('play').textContent = ev.detail.playing ? 'Pause' : 'Play'; });
    state.viewer = viewer;
  } catch (e) {
    state.viewerError = e.message;
    $('viewer').innerHTML = '';
    const p = document.createElement('p');
    p.className = 'placeholder';
    p.textContent = `The 3D viewer is unavailable (${e.message}). Downloads still work.` +
      ' If three.js is missing, run: bash scripts/setup_web.sh';
    $('viewer').append(p);
  }
}

function showResult(r) {
  state.result = r;
  $('result-info').hidden = false;
  const text = r.caption ? `Caption: “${r.caption}”` : r.prompt ? `“${r.prompt}”` : `${r.task} result`;
  $('result-text').textContent =
    `${text} — ${r.num_frames} frames, ${r.seconds.toFixed(2)} s at ${r.fps} fps (${r.model}, ${r.task})`;
  $('result-notes').textContent = r.notes.join(' ');
  for (const ext of ['bvh', 'gif', 'npz']) {
    const a = $(`dl-${ext}`);
    a.href = r.downloads[ext];
    a.setAttribute('download', `unimotion-${r.task}-${r.id.slice(0, 8)}.${ext}`);
  }
  const video = $('video');
  video.hidden = !r.video;
  if (r.video) video.src = r.video;
  $('score-text').value = r.prompt || r.caption || $('prompt').value;
  $('score-value').textContent = '';
  if (state.viewer) {
    state.viewer.setMotion(r);
    const scrub = $('scrub');
    scrub.max = String(r.num_frames - 1);
    scrub.disabled = false;
    $('play').disabled = false;
  }
}

// ------------------------------------------------------------------------------------------ tasks
function numberOrNull(id) {
  const v = $(id).value.trim();
  return v === '' ? null : Number(v);
}

function generate(ev) {
  ev.preventDefault();
  const body = { prompt: $('prompt').value, seconds: Number($('seconds').value), seed: Number($('seed').value) };
  const steps = numberOrNull('steps'), cfg = numberOrNull('cfg');
  if (steps !== null) body.steps = steps;
  if (cfg !== null) body.cfg = cfg;
  runTask('Generating', () => api('/api/generate', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  }));
}

function uploadTask(label, path, inputId, fields) {
  const file = $(inputId).files[0];
  if (!file) {
    setStatus('Choose a file first.', 'error');
    return;
  }
  const form = new FormData();
  form.append('file', file, file.name);
  for (const [k, v] of Object.entries(fields)) if (v !== null && v !== '') form.append(k, String(v));
  runTask(label, () => api(path, { method: 'POST', body: form }));
}

async function score() {
  if (!state.result) return;
  $('score-value').textContent = '…';
  try {
    const r = await api('/api/score', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ motion_id: state.result.id, text: $('score-text').value }),
    });
    $('score-value').textContent = `cosine ${r.similarity.toFixed(3)}`;
  } catch (e) {
    $('score-value').textContent = '';
    setStatus(`Score: ${e.message}`, 'error');
  }
}

// ------------------------------------------------------------------------------------------ model info
async function loadInfo() {
  try {
    const info = await api('/api/info');
    const m = info.models;
    const lic = [...new Set(Object.values(m).map((x) => x.licence))];
    const names = Object.values(m).map((x) => x.checkpoint).join(', ');
    $('licence').textContent = `Checkpoints: ${names} — licence: ${lic.join('; ')}.`;
    $('licence').classList.toggle('nc', lic.some((l) => l.includes('non-commercial')));
    for (const el of document.querySelectorAll('.model-line')) {
      const x = m[el.dataset.model];
      el.textContent = `Model: ${x.title} — checkpoint ${x.checkpoint} — ${x.licence}`;
    }
    const list = $('notice-list');
    list.replaceChildren();
    for (const [name, x] of Object.entries(m)) {
      const h = document.createElement('h3');
      h.textContent = `${x.title}: ${x.checkpoint}`;
      const pre = document.createElement('pre');
      pre.textContent = x.notice || '(no NOTICE file)';
      list.append(h, pre);
    }
    const lim = info.limits;
    for (const id of ['prompt', 'instruction', 'score-text']) $(id).maxLength = lim.max_prompt_chars;
    const maxS = m.unimotion.max_seconds || lim.max_seconds;
    for (const id of ['seconds', 'predict-seconds']) $(id).max = String(maxS);
    if (m.unimotion.min_seconds) $('seconds').min = String(m.unimotion.min_seconds);
  } catch (e) {
    $('licence').textContent = `Model information unavailable: ${e.message}`;
  }
}

// ------------------------------------------------------------------------------------------ wiring
function selectTab(button) {
  for (const b of document.querySelectorAll('[role=tab]')) {
    const on = b === button;
    b.setAttribute('aria-selected', String(on));
    $(b.dataset.panel).hidden = !on;
  }
}

function wire() {
  for (const b of document.querySelectorAll('[role=tab]')) b.addEventListener('click', () => selectTab(b));
  $('panel-text').addEventListener('submit', generate);
  $('caption').addEventListener('click', () => uploadTask('Captioning', '/api/caption', 'motion-file', {}));
  $('predict').addEventListener('click', () => uploadTask('Continuing', '/api/predict', 'motion-file',
    { seconds: $('predict-seconds').value, seed: $('motion-seed').value }));
  $('edit').addEventListener('click', () => uploadTask('Editing', '/api/edit', 'motion-file',
    { instruction: $('instruction').value, seed: $('motion-seed').value }));
  const kp = () => ($('keypoints').checked ? 'true' : null);
  $('capture').addEventListener('click', () => uploadTask('Capturing', '/api/capture', 'video-file',
    { keypoints: kp() }));
  $('animate').addEventListener('click', () => uploadTask('Animating', '/api/animate', 'video-file',
    { seed: $('animate-seed').value, keypoints: kp() }));
  $('score').addEventListener('click', score);
  $('play').addEventListener('click', () => state.viewer && state.viewer.toggle());
  const scrub = $('scrub');
  scrub.addEventListener('input', () => {
    if (!state.viewer) return;
    state.viewer.pause();
    state.viewer.setFrame(Number(scrub.value));
  });
  $('follow').addEventListener('change', (ev) => { if (state.viewer) state.viewer.follow = ev.target.checked; });
  $('speed').addEventListener('change', (ev) => { if (state.viewer) state.viewer.speed = Number(ev.target.value); });
}

wire();
loadInfo();
initViewer().then(() => { document.body.dataset.ready = 'true'; });
