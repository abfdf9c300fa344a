"""The preview page's script: polling, the aiming panel and the ROI editor (mouse and touch,
through pointer events). Served as /app.js so the page's CSP can forbid inline code."""

APP_JS = r"""'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const SVG = 'http://www.w3.org/2000/svg';
  const params = new URLSearchParams(location.search);
  const camera = params.get('camera') || '';
  const q = camera ? '?camera=' + encodeURIComponent(camera) : '';
  const recent = [];
  let lastSeq = -1;
  let failures = 0;
  let frame = null;  // {width, height} of the camera picture: ROI points are in its pixels
  const roi = { state: null, points: null, editing: false, dirty: false, drag: null, press: null };

  // ---- header, plates table, overlay ---------------------------------------------------
  function fitHeader() {
    document.documentElement.style.setProperty('--header-h', document.querySelector('header').offsetHeight + 'px');
  }

  function cell(tr, text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
  }

  function renderPlates(d) {
    const tbody = $('detections');
    const overlay = $('overlay');
    tbody.textContent = '';
    overlay.textContent = '';
    // The table keeps the last plates seen (a car is in view for a second or so); the
    // overlay only boxes the current frame's.
    const shown = d.plates.length ? d.plates : (d.last_plates ? d.last_plates.plates : []);
    $('plates-when').textContent = d.plates.length ? '(this frame)' :
      (d.last_plates ? '(last seen ' + (d.seq - d.last_plates.seq) + ' frames ago)' : '(none yet)');
    for (const p of shown) {
      const tr = document.createElement('tr');
      tr.className = 'plate';
      cell(tr, p.text || '?');
      cell(tr, p.confidence.toFixed(2));
      cell(tr, p.width_px.toFixed(0), p.readable ? 'good' : 'bad');
      cell(tr, p.focus === undefined ? '' : p.focus.toFixed(0));
      cell(tr, p.box.map((v) => Math.round(v)).join(','));
      tbody.appendChild(tr);
      if (d.frame && d.plates.length) overlay.appendChild(boxDiv(p, d.frame));
      if (p.text && !recent.includes(p.text)) {
        recent.unshift(p.text);
        if (recent.length > 10) recent.pop();
      }
    }
    const ol = $('recent');
    ol.textContent = '';
    for (const t of recent) {
      const li = document.createElement('li');
      li.textContent = t;
      ol.appendChild(li);
    }
    return shown;
  }

  function boxDiv(p, f) {
    const b = document.createElement('div');
    b.className = 'box' + (p.readable ? '' : ' small');
    b.style.left = (100 * p.box[0] / f.width) + '%';
    b.style.top = (100 * p.box[1] / f.height) + '%';
    b.style.width = (100 * p.box[2] / f.width) + '%';
    b.style.height = (100 * p.box[3] / f.height) + '%';
    b.title = (p.text || '?') + ' ' + p.width_px.toFixed(0) + 'px';
    return b;
  }

  // ---- the aiming panel ------------------------------------------------------------------
  function setFigure(id, text, cls) {
    const el = $(id);
    el.textContent = text;
    el.className = cls || '';
  }

  function renderAiming(a, shown) {
    const plate = a.plate;
    $('hint-min').textContent = plate.min_px.toFixed(0);
    $('hint-mm').textContent = plate.width_mm.toFixed(0);
    if (shown.length) {
      const p = shown.reduce((x, y) => (y.width_px > x.width_px ? y : x));
      setFigure('aim-width', p.width_px.toFixed(0) + ' px ' + (p.readable ? '\u2265 ' : '< ') + plate.min_px.toFixed(0) +
        ' px minimum for a ' + plate.width_mm.toFixed(0) + ' mm plate (' + plate.region + ')', p.readable ? 'good' : 'bad');
    } else {
      setFigure('aim-width', 'no plate yet; minimum ' + plate.min_px.toFixed(0) + ' px for a ' +
        plate.width_mm.toFixed(0) + ' mm plate (' + plate.region + ')', 'muted');
    }
    $('aim-width').title = plate.note;
    const f = a.focus;
    if (f) {
      const arrow = { sharper: '\u25b2 sharper', softer: '\u25bc softer', steady: '= steady' }[f.trend] || '(measuring)';
      setFigure('aim-focus', f.value.toFixed(0) + ' ' + arrow + ' (best ' + f.best.toFixed(0) + ')',
        f.trend === 'softer' ? 'bad' : f.trend === 'sharper' ? 'good' : '');
    }
    renderMotion(a.motion);
  }

  function renderMotion(m) {
    if (!m) return;
    let text = (m.px_per_frame !== null ? m.px_per_frame.toFixed(1) + ' px/frame (' : '(') + m.px_per_s.toFixed(0) +
      ' px/s' + (m.frame_rate ? ' at ' + m.frame_rate.toFixed(0) + ' fps' : '') + '); shutter \u2264 ' +
      m.max_shutter_us + ' \u00b5s (1/' + Math.round(1e6 / m.max_shutter_us) + ' s) keeps blur \u2264 ' +
      m.blur_budget_px + ' px; ';
    let cls = '';
    if (m.exposure_us) {
      text += 'exposure_us = ' + m.exposure_us + ': blur ' + m.blur_px.toFixed(1) + ' px';
      cls = m.ok ? 'good' : 'bad';
    } else {
      text += 'exposure automatic: set [source] exposure_us \u2264 ' + m.max_shutter_us;
    }
    setFigure('aim-motion', text, cls);
  }

  function render(d) {
    $('seq').textContent = d.seq;
    $('fps').textContent = d.fps.toFixed(1);
    if (d.frame) {
      $('size').textContent = d.frame.width + 'x' + d.frame.height;
      if (!frame || frame.width !== d.frame.width || frame.height !== d.frame.height) {
        frame = d.frame;
        $('roi').setAttribute('viewBox', '0 0 ' + frame.width + ' ' + frame.height);
        drawRoi();
      }
    }
    $('status').textContent = d.seq > 0 ? 'live' : 'waiting for frames';
    document.body.dataset.seq = String(d.seq);
    document.body.dataset.streamed = String(d.streamed);
    renderAiming(d.aiming, renderPlates(d));
  }

  // ---- the ROI editor ----------------------------------------------------------------------
  function el(name, attrs) {
    const e = document.createElementNS(SVG, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }

  function pts(list) { return list.map((p) => p[0].toFixed(1) + ',' + p[1].toFixed(1)).join(' '); }

  function unit() {  // frame pixels per CSS pixel, so handles keep their size on screen
    const r = $('roi').getBoundingClientRect();
    return frame && r.width ? frame.width / r.width : 1;
  }

  function shown() { return roi.points || (roi.state && roi.state.saved) || null; }

  function drawRoi() {
    const svg = $('roi');
    svg.textContent = '';
    if (!frame) return;
    const poly = shown();
    const s = roi.state;
    if (s && s.active && (roi.dirty || s.pending)) {
      svg.appendChild(el('polygon', { class: 'inuse', points: pts(s.active) }));
    }
    if (!poly) return;
    const W = frame.width, H = frame.height;
    svg.appendChild(el('path', { class: 'shade', d: 'M0,0H' + W + 'V' + H + 'H0Z M' + pts(poly).replace(/ /g, ' L') + 'Z' }));
    svg.appendChild(el('polygon', { class: 'shape', points: pts(poly) }));
    if (!roi.editing) return;
    const r = 8 * unit();
    poly.forEach((p, i) => {
      const n = poly[(i + 1) % poly.length];
      svg.appendChild(el('circle', { class: 'add', cx: (p[0] + n[0]) / 2, cy: (p[1] + n[1]) / 2, r: r * 0.6, 'data-add': i + 1 }));
    });
    poly.forEach((p, i) => svg.appendChild(el('circle', { class: 'handle', cx: p[0], cy: p[1], r: r, 'data-i': i })));
  }

  function toFrame(e) {
    const r = $('roi').getBoundingClientRect();
    const x = (e.clientX - r.left) / r.width * frame.width;
    const y = (e.clientY - r.top) / r.height * frame.height;
    return [Math.min(Math.max(x, 0), frame.width), Math.min(Math.max(y, 0), frame.height)];
  }

  function startEdit() {
    if (!frame) return;
    roi.editing = !roi.editing;
    if (roi.editing && !roi.points) {
      const base = shown();
      const W = frame.width, H = frame.height;
      roi.points = base ? base.map((p) => p.slice()) :
        [[0.1 * W, 0.1 * H], [0.9 * W, 0.1 * H], [0.9 * W, 0.9 * H], [0.1 * W, 0.9 * H]];
    }
    $('roi-edit').classList.toggle('on', roi.editing);
    $('roi-edit').textContent = roi.editing ? 'Done editing' : 'Edit ROI';
    $('roi').classList.toggle('editing', roi.editing);
    updateButtons();
    drawRoi();
  }

  function changed() {
    roi.dirty = true;
    $('roi-confirm').hidden = true;
    updateButtons();
    drawRoi();
  }

  function removePoint(i) {
    if (roi.points.length <= 3) { $('roi-msg').textContent = 'An ROI needs at least 3 corners.'; return; }
    roi.points.splice(i, 1);
    changed();
  }

  function onDown(e) {
    if (!roi.editing) return;
    const t = e.target;
    let i = null;
    if (t.dataset.add !== undefined) {
      i = Number(t.dataset.add);
      roi.points.splice(i, 0, toFrame(e));
      changed();
    } else if (t.dataset.i !== undefined) {
      i = Number(t.dataset.i);
    }
    if (i === null) return;
    e.preventDefault();
    $('roi').setPointerCapture(e.pointerId);
    roi.drag = { i: i, x: e.clientX, y: e.clientY, moved: false };
    clearTimeout(roi.press);
    roi.press = setTimeout(() => { if (roi.drag && !roi.drag.moved) { const k = roi.drag.i; roi.drag = null; removePoint(k); } }, 700);
  }

  function onMove(e) {
    const d = roi.drag;
    if (!d) return;
    if (Math.hypot(e.clientX - d.x, e.clientY - d.y) > 4) d.moved = true;
    if (!d.moved) return;
    roi.points[d.i] = toFrame(e);
    changed();
  }

  function undo() {
    roi.points = null;
    roi.dirty = false;
    $('roi-confirm').hidden = true;
    if (roi.editing) { roi.editing = false; startEdit(); } else { updateButtons(); drawRoi(); }
  }

  function onUp() { roi.drag = null; clearTimeout(roi.press); }

  function onDouble(e) {
    if (roi.editing && e.target.dataset.i !== undefined) removePoint(Number(e.target.dataset.i));
  }

  function updateButtons() {
    const s = roi.state;
    const canSave = !!(s && s.writable && roi.points && roi.points.length >= 3);
    $('roi-full').disabled = !roi.editing;
    $('roi-undo').disabled = !roi.dirty;
    $('roi-save').disabled = !canSave || !roi.dirty;
    $('roi-save').title = s && !s.writable ? (s.error || ('cannot write ' + s.path)) : '';
  }

  function area(p) {
    let a = 0;
    for (let i = 0; i < p.length; i++) { const n = p[(i + 1) % p.length]; a += p[i][0] * n[1] - n[0] * p[i][1]; }
    return Math.abs(a) / 2;
  }

  function askSave() {
    const pct = Math.round(100 * area(roi.points) / (frame.width * frame.height));
    $('roi-question').textContent = 'Save this ROI (' + roi.points.length + ' corners, ' + pct + '% of the picture) to ' +
      roi.state.path + '? The reader applies it at its next start.';
    $('roi-confirm').hidden = false;
  }

  async function save() {
    $('roi-confirm').hidden = true;
    const body = JSON.stringify({ polygon: roi.points.map((p) => [Math.round(p[0] * 10) / 10, Math.round(p[1] * 10) / 10]),
      frame: [frame.width, frame.height], confirm: true });
    try {
      const r = await fetch('roi.json' + q, { method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' }, body: body });
      const d = await r.json();
      if (!d.saved) throw new Error(d.error || ('HTTP ' + r.status));
      $('roi-msg').textContent = 'Saved to ' + d.path + ' (' + d.points + ' corners). It applies ' + d.applies +
        ' of the reader (sudo systemctl restart edge).';
      $('roi-msg').className = 'good';
      roi.points = null;
      roi.dirty = false;
      if (roi.editing) startEdit();
      await loadRoi();
    } catch (err) {
      $('roi-msg').textContent = 'Not saved: ' + err.message;
      $('roi-msg').className = 'bad';
    }
  }

  function describeRoi(s) {
    if (s.error && !s.path) return s.error;
    let text = s.saved ? 'ROI: ' + s.saved.length + ' corners' : 'No ROI: the whole picture is read';
    if (s.pending) text += s.active ? ' (saved; the reader still uses the dashed one until its next start)'
      : ' (saved; the reader still reads the whole picture until its next start)';
    text += s.path ? '. File: ' + s.path + (s.writable ? '' : ' (not writable here)') : '';
    return s.error ? text + '. ' + s.error : text;
  }

  async function loadRoi() {
    try {
      const r = await fetch('roi.json' + q, { cache: 'no-store', credentials: 'same-origin' });
      roi.state = await r.json();
      $('roi-state').textContent = describeRoi(roi.state);
      $('roi-state').className = roi.state.pending ? 'bad' : 'muted';
      document.body.dataset.roi = roi.state.saved ? String(roi.state.saved.length) : '0';
    } catch (e) {
      $('roi-state').textContent = 'ROI state unavailable (' + e.message + ')';
    }
    updateButtons();
    drawRoi();
  }

  // ---- polling, cameras, wiring ------------------------------------------------------------
  async function poll() {
    try {
      const r = await fetch('detections.json' + q, { cache: 'no-store', credentials: 'same-origin' });
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const d = await r.json();
      failures = 0;
      if (d.seq !== lastSeq) {
        const first = !frame;
        lastSeq = d.seq;
        render(d);
        if (first && frame) loadRoi();
      }
    } catch (e) {
      failures += 1;
      $('status').textContent = 'disconnected (' + e.message + ')';
      if (failures > 3) {  // the stream may have dropped too: reconnect it
        $('live').src = 'stream.mjpg' + (q ? q + '&' : '?') + 't=' + Date.now();
        failures = 0;
      }
    }
    setTimeout(poll, 250);
  }

  async function loadCameras() {
    try {
      const d = await (await fetch('cameras.json', { credentials: 'same-origin' })).json();
      if (d.cameras.length < 2) return;
      const sel = $('camera');
      for (const name of d.cameras) {
        const o = document.createElement('option');
        o.value = o.textContent = name;
        o.selected = name === (camera || d.cameras[0]);
        sel.appendChild(o);
      }
      sel.hidden = false;
      sel.addEventListener('change', () => { location.search = '?camera=' + encodeURIComponent(sel.value); });
    } catch (e) { /* one camera */ }
  }

  if (q) $('live').src = 'stream.mjpg' + q;
  $('outline').addEventListener('change', (e) => document.body.classList.toggle('outline', e.target.checked));
  $('roi-edit').addEventListener('click', startEdit);
  $('roi-full').addEventListener('click', () => {
    roi.points = [[0, 0], [frame.width, 0], [frame.width, frame.height], [0, frame.height]];
    changed();
  });
  $('roi-undo').addEventListener('click', undo);
  $('roi-save').addEventListener('click', askSave);
  $('roi-yes').addEventListener('click', save);
  $('roi-no').addEventListener('click', () => { $('roi-confirm').hidden = true; });
  const svg = $('roi');
  svg.addEventListener('pointerdown', onDown);
  svg.addEventListener('pointermove', onMove);
  svg.addEventListener('pointerup', onUp);
  svg.addEventListener('pointercancel', onUp);
  svg.addEventListener('dblclick', onDouble);
  window.addEventListener('resize', () => { fitHeader(); drawRoi(); });
  fitHeader();
  loadCameras();
  poll();
})();
"""
