"""The exported page's HTML, CSS and JavaScript: `{{PLOTLY}}` is replaced by plotly.js and
`{{DATA}}` by the view's JSON (nnvis.integrations.html_view)."""

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>nnvis view</title>
<style>
body { font-family: system-ui, sans-serif; margin: 16px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px 0; }
#figures { color: #444; font-size: 14px; margin-bottom: 8px; }
.controls { margin: 8px 0; font-size: 14px; }
.legend-item { display: inline-block; margin-right: 10px; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 5px; }
.grid { display: flex; gap: 16px; align-items: flex-start; }
#projection { width: 660px; height: 600px; border: 1px solid #ddd; }
#neuron-map { width: 440px; height: 400px; border: 1px solid #ddd; }
#detail { margin-top: 10px; display: flex; gap: 10px; align-items: center; font-size: 14px; }
#thumb { image-rendering: pixelated; border: 1px solid #ccc; background: #f4f4f4; }
.muted { color: #777; font-size: 13px; }
</style>
<script>{{PLOTLY}}</script>
</head><body>
<h1 id="title"></h1>
<div id="figures"></div>
<div class="controls">Colour by
 <select id="color-by">
  <option value="class">true class</option><option value="prediction">predicted class</option>
  <option value="error">correct / misclassified</option>
  <option value="neuron" disabled>a neuron (click one on the neuron map)</option>
 </select> <span id="legend"></span></div>
<div class="grid">
 <div id="projection"></div>
 <div class="side"><div id="neuron-map"></div>
  <div id="detail"><canvas id="thumb" width="96" height="96"></canvas>
   <div id="detail-text" class="muted">Hover a point to see its image.</div></div>
  <p class="muted">Made by nnvis; this page needs no server and no network.</p></div>
</div>
<script type="application/json" id="nnvis-data">{{DATA}}</script>
<script>
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("nnvis-data").textContent);
  const T10 = ["#4C78A8", "#F58518", "#E45756", "#72B7B2", "#54A24B", "#EECA3B", "#B279A2", "#FF9DA6",
               "#9D755D", "#BAB0AC"];
  const n = D.classes.length;
  const classColour = c => n <= 10 ? T10[c] : "hsl(" + Math.round(c * 360 / n) + ",65%,48%)";
  const ids = D.x.map((_, i) => i);
  let neuronBytes = null, neuron = null;

  document.getElementById("title").textContent = D.title;
  const parts = [D.layer + " · epoch " + D.epoch + " · " + D.method, "NH " + D.nh.toFixed(3)];
  if (D.faithfulness) {
    const f = D.faithfulness;
    parts.push("trustworthiness " + f.trustworthiness[0].toFixed(3) + " · continuity " + f.continuity[0].toFixed(3)
               + " (k = " + f.k[0]
               + (f.observations < ids.length ? ", on " + f.observations + " observations" : "") + ")");
  }
  parts.push(D.accuracy === null ? "test accuracy not measured" : "test accuracy " + D.accuracy.toFixed(4));
  parts.push(ids.length + " observations");
  document.getElementById("figures").textContent = parts.join(" · ");

  function legend(items) {
    const box = document.getElementById("legend");
    box.textContent = "";
    for (const [name, colour] of items) {
      const item = document.createElement("span"); item.className = "legend-item";
      const swatch = document.createElement("span"); swatch.className = "swatch"; swatch.style.background = colour;
      item.appendChild(swatch); item.appendChild(document.createTextNode(name)); box.appendChild(item);
    }
  }

  function unitValues(unit) {
    if (neuronBytes === null) {
      const text = atob(D.neurons.activations);
      neuronBytes = new Uint8Array(text.length);
      for (let i = 0; i < text.length; i++) neuronBytes[i] = text.charCodeAt(i);
    }
    const lo = D.neurons.lo[unit], span = D.neurons.hi[unit] - lo, N = ids.length;
    return ids.map(i => lo + neuronBytes[unit * N + i] / 255 * span);
  }

  function marker(mode) {
    const size = ids.length > 5000 ? 3 : 5;
    if (mode === "neuron" && neuron !== null) {
      const values = unitValues(neuron);
      const low = values.reduce((a, b) => Math.min(a, b)), high = values.reduce((a, b) => Math.max(a, b));
      legend([["neuron " + neuron + ": " + low.toFixed(3) + " … " + high.toFixed(3), "#21918c"]]);
      return {size: size, color: values, colorscale: "Viridis", showscale: true,
              colorbar: {title: {text: "neuron " + neuron}, thickness: 12}};
    }
    if (mode === "error") {
      legend([["correct", "#bbbbbb"], ["misclassified", "#e45756"]]);
      return {size: size, color: ids.map(i => D.labels[i] === D.predictions[i] ? "#bbbbbb" : "#e45756"),
              showscale: false};
    }
    const key = mode === "prediction" ? D.predictions : D.labels;
    legend(D.classes.map((name, c) => [name, classColour(c)]));
    return {size: size, color: ids.map(i => classColour(key[i])), showscale: false};
  }

  const select = document.getElementById("color-by");
  const points = document.getElementById("projection");
  const axis = {showticklabels: false, zeroline: false};
  const type = ids.length > 20000 ? "scattergl" : "scatter";
  Plotly.newPlot(points, [{type: type, mode: "markers", x: D.x, y: D.y, customdata: ids, marker: marker("class"),
                           hovertemplate: "#%{customdata}<extra></extra>"}],
                 {margin: {l: 30, r: 10, t: 30, b: 30}, title: {text: "observations", font: {size: 14}},
                  xaxis: axis, yaxis: axis, hovermode: "closest",
                  dragmode: "zoom"}, {displaylogo: false, responsive: true});
  select.addEventListener("change", () => Plotly.restyle(points, {marker: [marker(select.value)]}, [0]));

  const sprite = new Image();
  sprite.src = D.sprite;
  function showDetail(i) {
    const canvas = document.getElementById("thumb"), ctx = canvas.getContext("2d");
    const [h, w] = D.cell, scale = 96 / Math.max(h, w), column = i % D.sprite_columns;
    const row = Math.floor(i / D.sprite_columns);
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, 96, 96);
    ctx.drawImage(sprite, column * w, row * h, w, h, 0, 0, w * scale, h * scale);
    canvas.dataset.index = String(i);
    document.getElementById("detail-text").textContent = "observation " + D.index[i] + " · true " +
      D.classes[D.labels[i]] + " · predicted " + D.classes[D.predictions[i]] + " (" + D.confidence[i].toFixed(3) + ")";
  }
  points.on("plotly_hover", event => {
    const i = event.points[0].customdata;
    if (sprite.complete) showDetail(i); else sprite.onload = () => showDetail(i);
  });

  const map = document.getElementById("neuron-map");
  if (!D.neurons) {
    map.textContent = "The input layer has no neuron map.";
    return;
  }
  const nm = D.neurons;
  Plotly.newPlot(map, [{type: "scatter", mode: "markers", x: nm.x, y: nm.y, customdata: nm.units,
                        text: nm.units.map((u, j) => "neuron " + u + "<br>best class " + D.classes[nm.best[j]] +
                                           "<br>score " + nm.score[j].toFixed(3)),
                        hovertemplate: "%{text}<extra></extra>",
                        marker: {size: 8, color: nm.best.map(classColour),
                                 opacity: nm.score.map(s => 0.25 + 0.75 * Math.max(0, Math.min(1, (s - 0.5) * 2)))}}],
                 {margin: {l: 30, r: 10, t: 30, b: 30}, hovermode: "closest",
                  title: {text: "neurons of " + D.layer + " (" + nm.units.length + " of " + nm.count +
                                " alive): click one", font: {size: 14}},
                  xaxis: axis, yaxis: axis},
                 {displaylogo: false, responsive: true});
  map.on("plotly_click", event => {
    neuron = event.points[0].customdata;
    select.querySelector("option[value=neuron]").disabled = false;
    select.value = "neuron";
    Plotly.restyle(points, {marker: [marker("neuron")]}, [0]);
  });
})();
</script>
</body></html>
"""
