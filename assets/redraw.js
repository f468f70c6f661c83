// Plotly.react on scattergl does not refresh the colours of traces whose marker.color turns from
// one colour into an array (dcc.Graph applying a dash.Patch); a redraw after the update does.
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  nnvis: {
    redrawAfterPatch: function (figure) {
      const revision = figure && figure.layout && figure.layout.datarevision;
      if (typeof revision === "string" && revision.startsWith("neuron-")) {
        setTimeout(function () {
          const gd = document.querySelector("#obs-projection .js-plotly-plot");
          if (gd && window.Plotly) { window.Plotly.redraw(gd); }
        }, 0);
      }
      return revision || null;
    },
    // The view as a link: the query string holds everything needed to reopen it; the address bar
    // follows the view without reloading, and the copy-link button copies the address.
    // Returns [the address, a note]: a selection too long for an address (LINK_SELECTION_CHARS)
    // is left out of it, and the note says so.
    shareLink: function (ws, layer, epoch, method, color, neuron, selected, observations, tokenColour, shared) {
      const ids = selected && selected.points ? selected.points.map(p => p.customdata).filter(i => i !== undefined)
        : (shared || []);
      const patches = observations === "patches";  // a token layer's patch tokens: named only when shown
      let sel = ids.length ? ranges(ids) : null;
      let note = "";
      const length = sel ? encodeURIComponent(sel).length : 0;  // as the address writes it: "," is "%2C"
      if (length > LINK_SELECTION_CHARS) {
        note = "Link without the selection: its " + new Set(ids).size + " observations take " + length +
          " characters (an address carries " + LINK_SELECTION_CHARS + ").";
        sel = null;
      }
      return [setAddress({ws: ws, layer: layer, epoch: epoch, method: method, color: color, neuron: neuron,
                          sel: sel, obs: patches ? observations : null, tokens: patches ? tokenColour : null}), note];
    },
    // Any page: its controls' values (the last argument names their query keys) into the address.
    followView: function (...args) {
      const spec = args.pop() || {keys: [], quiet: {}};
      const params = {};
      spec.keys.forEach((key, k) => { params[key] = args[k]; });
      const text = v => (v === null || v === undefined) ? "" : (Array.isArray(v) ? v.join(",") : String(v));
      const quiet = spec.quiet || {};
      if (Object.keys(quiet).every(key => text(params[key]) === text(quiet[key]))) {
        Object.keys(quiet).forEach(key => { delete params[key]; });  // as opened: a short link
      }
      return setAddress(params);
    },
    // The copy-link button: the address as it is now, into the clipboard.
    copyAddress: function (clicks) {
      if (!clicks) { return ""; }
      const address = window.location.href;
      if (navigator.clipboard && window.isSecureContext) {
        return navigator.clipboard.writeText(address).then(() => "Copied", () => copyByHand(address));
      }
      return copyByHand(address);  // plain http on another host: no Clipboard API there
    },
  },
});

// The longest `sel` an address carries, URL-encoded: gunicorn refuses a request line over 4094
// bytes (its limit_request_line), and the rest of an explore address takes a few hundred.
const LINK_SELECTION_CHARS = 3000;

// Sorted unique indices as "3-7,12" (short links for large selections).
function ranges(ids) {
  const sorted = Array.from(new Set(ids.map(Number))).sort((a, b) => a - b);
  const parts = [];
  for (let k = 0; k < sorted.length; k++) {
    let j = k;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) { j++; }
    parts.push(j > k ? sorted[k] + "-" + sorted[j] : String(sorted[k]));
    k = j;
  }
  return parts.join(",");
}

// The view's values as the query string of the address bar (replacing the entry, no reload):
// empty values are left out, lists written "a,b". Returns the address.
function setAddress(params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) { continue; }
    query.set(key, Array.isArray(value) ? value.join(",") : value);
  }
  const url = window.location.origin + window.location.pathname + "?" + query.toString();
  window.history.replaceState(window.history.state, "", url);
  return url;
}

// Copy through a selected text box (browsers without the Clipboard API on plain http).
function copyByHand(text) {
  const box = document.createElement("textarea");
  box.value = text;
  box.style.position = "fixed";
  box.style.opacity = "0";
  document.body.appendChild(box);
  box.select();
  const copied = document.execCommand("copy");
  document.body.removeChild(box);
  return copied ? "Copied" : "Copy the address bar: the browser refused";
}
