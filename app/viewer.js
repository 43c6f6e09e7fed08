// E3D molecule viewer: a Streamlit v2 component that keeps ONE 3Dmol viewer (and its WebGL
// context and compiled shaders) alive across reruns and only swaps the model and cylinders
// when new data arrives.  3Dmol.js is loaded once per page from the app's static folder.
const LOCAL = "/app/static/3Dmol-min.js";
const CDN = "https://cdnjs.cloudflare.com/ajax/libs/3Dmol/2.5.5/3Dmol-min.js";
// Streamlit remounts a component whenever the elements above it change (a radio, a warning that
// appears): the new mount gets a new box.  Viewers live in a page-wide pool instead of in the box,
// and a new box adopts a viewer whose old box has left the page, so the page keeps as many viewers
// as it shows at once (tests/test_browser.py counts them).
const pool = window.__e3dViewerPool || (window.__e3dViewerPool = []);

function viewerFor(box, $3Dmol) {
  let slot = pool.find((s) => s.holder.parentElement === box);
  if (slot) return slot.viewer;
  slot = pool.find((s) => !s.holder.isConnected);
  if (!slot) {
    const holder = document.createElement("div");
    holder.style.cssText = "width: 100%; height: 100%; position: relative;";
    box.appendChild(holder);
    slot = { holder, viewer: $3Dmol.createViewer(holder, { backgroundColor: "white" }) };
    pool.push(slot);
    return slot.viewer;
  }
  box.appendChild(slot.holder);
  slot.viewer.resize();
  return slot.viewer;
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src;
    s.onload = () => resolve(window.$3Dmol);
    s.onerror = () => reject(new Error("could not load " + src));
    document.head.appendChild(s);
  });
}

function load3Dmol() {
  if (window.$3Dmol) return Promise.resolve(window.$3Dmol);
  if (!window.__e3dLoad3Dmol) {
    window.__e3dLoad3Dmol = loadScript(LOCAL).catch(() => { window.__e3dCdn = true; return loadScript(CDN); });
  }
  return window.__e3dLoad3Dmol;
}

function legend(el, data) {
  el.querySelector(".e3d-legend-title").textContent = data.legend.title;
  el.querySelector(".e3d-legend-bar").style.background = "linear-gradient(to right, " + data.legend.stops.join(", ") + ")";
  const ticks = el.querySelectorAll(".e3d-legend-ticks span");
  data.legend.ticks.forEach((t, k) => { ticks[k].textContent = t; });
  el.querySelector(".e3d-note").textContent = window.__e3dCdn ? "3Dmol.js from CDN (local copy missing: run make install)" : "";
}

export default function (component) {
  const { data, parentElement } = component;
  const box = parentElement.querySelector(".e3d-viewer");
  if (!data || !box) return;
  box.style.height = data.height + "px";
  box.dataset.rendered = "";
  load3Dmol().then(($3Dmol) => {
    const viewer = viewerFor(box, $3Dmol);
    // Each 3Dmol call that ends in show() redraws the canvas, which costs ~0.1 s in software
    // WebGL: remove without redrawing (viewer.clear() would draw twice).
    viewer.removeAllModels();
    viewer.removeAllShapes();
    if (viewer.labels && viewer.labels.length) viewer.removeAllLabels();
    viewer.addModel(data.molblock, "sdf");
    viewer.setStyle({}, { sphere: { scale: 0.22, colorscheme: "Jmol" } });
    const shape = viewer.addShape({});  // one mesh for all pairs: one draw call
    delete shape.color;  // keep each cylinder's own vertex colours (a shape colour would paint over them)
    for (const s of data.shapes) {
      const spec = { start: s.start, end: s.end, radius: s.radius, color: s.color, fromCap: 1, toCap: 1 };
      if (s.dashed) shape.addDashedCylinder({ ...spec, dashLength: 0.15, gapLength: 0.15 });
      else shape.addCylinder(spec);
    }
    for (const l of data.labels) {
      viewer.addLabel(l.text, { position: l.position, fontSize: 11, fontColor: "black", backgroundColor: "white",
                                backgroundOpacity: 0.7, inFront: true }, undefined, true);
    }
    // zoomTo() would draw once more before render() builds the new geometry: silence that draw.
    const show = viewer.show;
    viewer.show = () => {};
    try { viewer.zoomTo(); } finally { viewer.show = show; }
    viewer.render();
    legend(parentElement, data);
    box.dataset.rendered = data.token;
  }).catch((err) => { box.textContent = "3D view unavailable: " + err.message; });
}
