"""The preview page (HTML and CSS), kept in Python so an installed wheel always has it.

Layout: the live view on the left, scaled to fit the window's height; the side panel (aiming
figures, ROI editor, plates, hint) on the right in its own scrolling column, so at 1280x800
nothing drops below the picture; on a narrow screen (a phone) the panel goes below it.
The script is edge.preview.script (a separate file, so the CSP can forbid inline code).
"""

INDEX_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge preview</title>
<style>
  :root { --header-h: 44px; }
  html, body { height: 100%; }
  body { font-family: system-ui, sans-serif; margin: 0; background: #111; color: #eee;
         display: flex; flex-direction: column; }
  header { flex: none; padding: 6px 12px; background: #222; display: flex; gap: 18px;
           align-items: baseline; flex-wrap: wrap; }
  header h1 { font-size: 16px; margin: 0; }
  main { flex: 1; min-height: 0; display: grid; grid-template-columns: minmax(0, 1fr) minmax(280px, 340px);
         gap: 12px; padding: 12px; box-sizing: border-box; align-items: start; }
  #stage { min-width: 0; }
  #view { position: relative; display: inline-block; max-width: 100%; line-height: 0; }
  #live { display: block; max-width: 100%; max-height: calc(100vh - var(--header-h) - 24px);
          width: auto; height: auto; background: #000; min-width: 320px; min-height: 180px; }
  /* Boxes are drawn into the stream itself (in step with each frame); the overlay draws the
     polled JSON boxes as well, dashed, when "outline from JSON" is ticked. */
  #overlay { display: none; position: absolute; inset: 0; }
  body.outline #overlay { display: block; }
  .box { position: absolute; border: 1px dashed #0ff; box-sizing: border-box; pointer-events: none; }
  #roi { position: absolute; inset: 0; width: 100%; height: 100%; pointer-events: none; overflow: visible; }
  #roi.editing { pointer-events: auto; touch-action: none; cursor: crosshair; }
  #roi .shade { fill: #000; fill-opacity: 0.45; fill-rule: evenodd; }
  #roi .shape { fill: none; stroke: #ff0; stroke-width: 2; vector-effect: non-scaling-stroke; }
  #roi .inuse { fill: none; stroke: #0ff; stroke-width: 2; stroke-dasharray: 6 4; vector-effect: non-scaling-stroke; }
  #roi .handle { fill: #ff0; stroke: #000; stroke-width: 1; vector-effect: non-scaling-stroke; cursor: grab; }
  #roi .add { fill: #111; stroke: #ff0; stroke-width: 1; vector-effect: non-scaling-stroke; cursor: copy; }
  #panel { min-width: 0; max-height: calc(100vh - var(--header-h) - 24px); overflow-y: auto; font-size: 13px;
           overflow-wrap: anywhere; }
  #panel h2 { font-size: 14px; margin: 10px 0 4px; }
  #panel section:first-child h2 { margin-top: 0; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 8px; margin: 0; }
  dt { color: #aaa; } dd { margin: 0; }
  table { border-collapse: collapse; font: 12px monospace; width: 100%; }
  td, th { padding: 2px 6px; border-bottom: 1px solid #333; text-align: left; }
  .bad { color: #fa0; } .good { color: #0f0; } .muted { color: #999; }
  button { font: inherit; padding: 4px 8px; margin: 2px 4px 2px 0; background: #333; color: #eee;
           border: 1px solid #666; border-radius: 4px; cursor: pointer; }
  button.on { background: #665f00; border-color: #ff0; }
  button:disabled { opacity: 0.5; cursor: default; }
  #roi-confirm { border: 1px solid #ff0; padding: 6px; margin: 6px 0; }
  #hint { color: #aaa; font-size: 12px; }
  ol { margin: 0; padding-left: 22px; }
  @media (max-width: 860px) {
    main { grid-template-columns: minmax(0, 1fr); }
    #live { max-height: none; }
    #panel { max-height: none; overflow: visible; }
  }
</style>
</head>
<body>
<header>
  <h1>edge preview</h1>
  <select id="camera" hidden aria-label="camera"></select>
  <span>frame <b id="seq">-</b></span>
  <span><b id="fps">-</b> fps</span>
  <span>size <b id="size">-</b></span>
  <span id="status">connecting...</span>
  <label><input type="checkbox" id="outline"> outline from JSON</label>
</header>
<main>
  <div id="stage">
    <div id="view">
      <img id="live" src="stream.mjpg" alt="live view">
      <div id="overlay"></div>
      <svg id="roi" xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="none" viewBox="0 0 16 9"></svg>
    </div>
  </div>
  <aside id="panel">
    <section>
      <h2>Aiming</h2>
      <dl>
        <dt>Plate width</dt><dd id="aim-width" class="muted">no plate yet</dd>
        <dt>Focus</dt><dd id="aim-focus" class="muted">needs a plate in view</dd>
        <dt>Motion</dt><dd id="aim-motion" class="muted">needs a passing plate</dd>
      </dl>
    </section>
    <section>
      <h2>Region of interest</h2>
      <p id="roi-state" class="muted">loading...</p>
      <div>
        <button id="roi-edit" type="button">Edit ROI</button>
        <button id="roi-full" type="button" disabled>Whole frame</button>
        <button id="roi-undo" type="button" disabled>Undo changes</button>
        <button id="roi-save" type="button" disabled>Save&hellip;</button>
      </div>
      <div id="roi-confirm" hidden>
        <p id="roi-question"></p>
        <button id="roi-yes" type="button">Yes, save it</button>
        <button id="roi-no" type="button">Cancel</button>
      </div>
      <p id="roi-msg"></p>
      <p class="muted">Drag a corner to move it, drag a small circle on an edge to add a corner,
        double-click or long-press a corner to remove it. Plates outside are ignored.</p>
    </section>
    <section>
      <h2>Plates <small id="plates-when"></small></h2>
      <table><thead><tr><th>text</th><th>conf</th><th>width px</th><th>focus</th><th>box x,y,w,h</th></tr></thead>
        <tbody id="detections"></tbody></table>
    </section>
    <section>
      <h2>Recent reads</h2>
      <ol id="recent"></ol>
    </section>
    <p id="hint">Aim so plates pass near the centre; widths in <span class="good">green</span> are
      wide enough to read (&ge; <span id="hint-min">90</span> px for a <span id="hint-mm">520</span> mm
      plate), <span class="bad">orange</span> too small: zoom in, move closer or raise the
      resolution. Focus on a plate that stands still: turn the ring while the focus figure says
      "sharper", back off when it says "softer".</p>
  </aside>
</main>
<script src="app.js"></script>
</body>
</html>
"""
