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
  },
});
