// nnvis's WebGL point view: a Dash component around regl-scatterplot.
//
// Props in (from the server): `coordinates` (base64 float32, x0 y0 x1 y1 ..., in [-1, 1]),
// `values` (base64 uint8, one a point: a category code, or a value quantised to 0..255),
// `valueKind` ('categorical' | 'continuous'), `palette` (hex colours: one a category, or a
// colour map), `pointSize`, `performanceMode` (squares, no alpha blending: read once, at mount),
// `selectedIndices` (the selection to show).
// Props out (set by the user): `hoveredIndex`, `clickedIndex` (with `clicks`, counted),
// `selectedIndices` (a lasso's points; [] when deselected).
//
// Only `values`/`palette` changing (a recolour) keeps the points' spatial index: the draw is
// given the index built at the first draw, so it is not built again. The element says what it
// did: data-drawn (draws finished), data-indexed (indexes built), data-draw-ms (the last draw,
// to its next frame); its `scatterplot` property is the regl-scatterplot instance.
import createScatterplot from 'regl-scatterplot';

const React = window.React;

function decode(base64, Type) {
  const text = window.atob(base64 || '');
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
  return new Type(bytes.buffer);
}

function arrayPoints(coordinates) {
  const xy = decode(coordinates, Float32Array);
  const points = new Array(xy.length / 2);
  for (let i = 0; i < points.length; i += 1) points[i] = [xy[2 * i], xy[2 * i + 1], 0];
  return points;
}

function setValues(points, values, continuous) {
  const codes = decode(values, Uint8Array);
  const n = Math.min(points.length, codes.length);
  for (let i = 0; i < n; i += 1) points[i][2] = continuous ? codes[i] / 255 : codes[i];
}

function sameList(a, b) {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}

function PointView(props) {
  const { id, className, style, setProps, coordinates, values, valueKind, palette, pointSize,
    selectedIndices } = props;
  const canvasRef = React.useRef(null);
  const boxRef = React.useRef(null);
  const state = React.useRef({ plot: null, points: null, coordinates: null, index: null, drawing: Promise.resolve(),
    lasso: false, emitted: null, revision: 0 });

  React.useEffect(() => {
    const box = boxRef.current;
    const { width, height } = box.getBoundingClientRect();
    const plot = createScatterplot({
      canvas: canvasRef.current, width: Math.max(width, 1), height: Math.max(height, 1),
      pointSize: pointSize || 2, pointSizeSelected: 1, opacity: 0.8, performanceMode: !!props.performanceMode, colorBy: 'valueA',
      spatialIndexUseWorker: false, lassoColor: [0.2, 0.2, 0.2, 1], deselectOnEscape: true, deselectOnDblClick: true,
    });
    const s = state.current;
    s.plot = plot;
    box.scatterplot = plot; // for scripts and tests: e.g. getScreenPosition(i), get('points')
    plot.subscribe('pointOver', (i) => setProps({ hoveredIndex: i }));
    plot.subscribe('lassoStart', () => { s.lasso = true; });
    plot.subscribe('select', ({ points }) => {
      const lasso = s.lasso;
      s.lasso = false;
      if (lasso) {
        s.emitted = Array.from(points);
        setProps({ selectedIndices: s.emitted });
      } else if (points.length === 1) {
        s.clicks = (s.clicks || 0) + 1;
        setProps({ clickedIndex: points[0], clicks: s.clicks });
      }
    });
    plot.subscribe('deselect', () => {
      s.emitted = [];
      setProps({ selectedIndices: [] });
    });
    const resize = new window.ResizeObserver(() => {
      const r = box.getBoundingClientRect();
      if (r.width > 0 && r.height > 0) plot.set({ width: r.width, height: r.height });
    });
    resize.observe(box);
    return () => { resize.disconnect(); plot.destroy(); s.plot = null; };
  }, []);

  React.useEffect(() => {
    const s = state.current;
    if (!s.plot || !coordinates) return;
    const continuous = valueKind === 'continuous';
    const box = boxRef.current;
    const started = window.performance.now();
    box.setAttribute('data-drawing', '1');
    s.drawing = s.drawing.then(() => {
      const plot = s.plot;
      if (!plot) return undefined;
      const fresh = coordinates !== s.coordinates;
      if (fresh) {
        s.points = arrayPoints(coordinates);
        s.coordinates = coordinates;
        s.index = null;
      }
      setValues(s.points, values, continuous);
      plot.set({ pointColor: palette && palette.length ? palette : ['#4c78a8'] });
      const options = { zDataType: continuous ? 'continuous' : 'categorical' };
      if (!fresh && s.index) {
        options.spatialIndex = s.index; // a recolour: the index of the same points
        options.preventFilterReset = true;
      }
      const selected = selectedIndices && selectedIndices.length ? selectedIndices : undefined;
      if (selected) options.select = selected;
      return plot.draw(s.points, options).then(() => {
        if (fresh) {
          s.index = plot.get('spatialIndex');
          s.indexed = (s.indexed || 0) + 1;
          box.setAttribute('data-indexed', String(s.indexed)); // spatial indexes built: once per point set
        }
        return new Promise((done) => window.requestAnimationFrame(done));
      }).then(() => {
        s.revision += 1;
        box.setAttribute('data-draw-ms', String(Math.round(window.performance.now() - started)));
        box.setAttribute('data-drawn', String(s.revision));
        box.removeAttribute('data-drawing');
      });
    }).catch((error) => { box.setAttribute('data-error', String(error)); });
  }, [coordinates, values, valueKind, palette]);

  React.useEffect(() => {
    const s = state.current;
    if (!s.plot || sameList(selectedIndices || [], s.emitted || [])) return;
    s.drawing = s.drawing.then(() => {
      if (!s.plot) return;
      s.emitted = selectedIndices || [];
      if (s.emitted.length) s.plot.select(s.emitted, { preventEvent: true });
      else s.plot.deselect({ preventEvent: true });
    });
  }, [selectedIndices]);

  return React.createElement('div', { id, className, style: { position: 'relative', ...style }, ref: boxRef },
    React.createElement('canvas', { ref: canvasRef, style: { width: '100%', height: '100%', display: 'block' } }));
}

PointView.defaultProps = { valueKind: 'categorical', pointSize: 2, selectedIndices: [] };

window.nnvis_components = Object.assign(window.nnvis_components || {}, { PointView });
