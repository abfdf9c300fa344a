"""The preview page and its script, kept in Python so an installed wheel always has them."""

INDEX_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge preview</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0; background: #111; color: #eee; }
  header { padding: 6px 12px; background: #222; display: flex; gap: 18px; align-items: baseline; flex-wrap: wrap; }
  header h1 { font-size: 16px; margin: 0; }
  #view { position: relative; display: inline-block; max-width: 100%; line-height: 0; }
  #live { max-width: 100%; height: auto; display: block; background: #000; min-width: 320px; min-height: 180px; }
  /* Boxes are drawn into the stream itself (in step with each frame); the overlay draws the
     polled JSON boxes as well, dashed, when "outline from JSON" is ticked. */
  #overlay { display: none; }
  body.outline #overlay { display: block; }
  .box { position: absolute; border: 1px dashed #0ff; box-sizing: border-box; pointer-events: none; }
  main { display: flex; gap: 12px; padding: 12px; flex-wrap: wrap; align-items: flex-start; }
  table { border-collapse: collapse; font: 13px monospace; }
  td, th { padding: 2px 8px; border-bottom: 1px solid #333; text-align: left; }
  .bad { color: #fa0; } .good { color: #0f0; }
  #hint { color: #aaa; font-size: 12px; max-width: 420px; }
</style>
</head>
<body>
<header>
  <h1>edge preview</h1>
  <span>frame <b id="seq">-</b></span>
  <span><b id="fps">-</b> fps</span>
  <span>size <b id="size">-</b></span>
  <span id="status">connecting...</span>
  <label><input type="checkbox" id="outline"> outline from JSON</label>
</header>
<main>
  <div id="view">
    <img id="live" src="stream.mjpg" alt="live view">
    <div id="overlay"></div>
  </div>
  <section>
    <h2 style="font-size:14px">Plates <small id="plates-when"></small></h2>
    <table><thead><tr><th>text</th><th>conf</th><th>width px</th><th>box x,y,w,h</th></tr></thead>
      <tbody id="detections"></tbody></table>
    <h2 style="font-size:14px">Recent reads</h2>
    <ol id="recent"></ol>
    <p id="hint">Aim so plates pass near the centre; widths in <span class="good">green</span> are
      wide enough to read (&ge; 90 px for a 520 mm plate), <span class="bad">orange</span> too small:
      zoom in, move closer or raise the resolution. Focus until the characters look sharp.</p>
  </section>
</main>
<script src="app.js"></script>
</body>
</html>
"""

APP_JS = """'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const recent = [];
  let lastSeq = -1;
  let failures = 0;

  function render(d) {
    $('seq').textContent = d.seq;
    $('fps').textContent = d.fps.toFixed(1);
    if (d.frame) $('size').textContent = d.frame.width + 'x' + d.frame.height;
    $('status').textContent = d.seq > 0 ? 'live' : 'waiting for frames';
    document.body.dataset.seq = String(d.seq);
    document.body.dataset.streamed = String(d.streamed);
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
      const cells = [p.text || '?', p.confidence.toFixed(2), p.width_px.toFixed(0), p.box.map((v) => Math.round(v)).join(',')];
      cells.forEach((c, i) => {
        const td = document.createElement('td');
        td.textContent = c;
        if (i === 2) td.className = p.readable ? 'good' : 'bad';
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
      if (d.frame && d.plates.length) {
        const b = document.createElement('div');
        b.className = 'box' + (p.readable ? '' : ' small');
        b.style.left = (100 * p.box[0] / d.frame.width) + '%';
        b.style.top = (100 * p.box[1] / d.frame.height) + '%';
        b.style.width = (100 * p.box[2] / d.frame.width) + '%';
        b.style.height = (100 * p.box[3] / d.frame.height) + '%';
        b.title = (p.text || '?') + ' ' + p.width_px.toFixed(0) + 'px';
        overlay.appendChild(b);
      }
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
  }

  async function poll() {
    try {
      const r = await fetch('detections.json', { cache: 'no-store', credentials: 'same-origin' });
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const d = await r.json();
      failures = 0;
      if (d.seq !== lastSeq) { lastSeq = d.seq; render(d); }
    } catch (e) {
      failures += 1;
      $('status').textContent = 'disconnected (' + e.message + ')';
      if (failures > 3) {  // the stream may have dropped too: reconnect it
        $('live').src = 'stream.mjpg?t=' + Date.now();
        failures = 0;
      }
    }
    setTimeout(poll, 250);
  }
  $('outline').addEventListener('change', (e) => document.body.classList.toggle('outline', e.target.checked));
  poll();
})();
"""
