// nnvis's WebGL point view: a Dash component around regl-scatterplot.
//
// Props in (from the server): `coordinates` (base64 uint16, x0 y0 x1 y1 ..., over [-0.95, 0.95]),
// `values` (base64 uint8, one a point: a category code, or a value quantised to 0..255),
// `valueKind` ('categorical' | 'continuous'), `palette` (hex colours: one a category, or a
// colour map), `pointSize`, `performanceMode` (squares, no alpha blending: read once, at mount),
// `selectedIndices` (the selection to show).
// Trails (optional, sent with the coordinates): `lineIds` (base64 uint32, one a point: the line it
// belongs to, e.g. an observation) and `lineOrders` (base64 uint8: its place along that line):
// each line is drawn as a curve through its points in order (regl-scatterplot's point
// connections), in its points' colour; `shownOrder` (a number) shows only the points of that
// place along their lines (e.g. the current frame), every line kept; null shows every point.
// Props out (set by the user): `hoveredIndex` (with `hoveredLine`, its line id, where lines are
// drawn), `clickedIndex` (with `clicks`, counted), `selectedIndices` (a lasso's points; [] when
// deselected).
//
// Only `values`/`palette` changing (a recolour) keeps the points' spatial index: the draw is
// given the index built at the first draw, so it is not built again, and the palette is set only
// when it changed. Each draw renders the million points once (in software WebGL a render of
// 1,000,000 points takes most of a second): nothing else asks regl-scatterplot to redraw (a
// resize only when the size changed), and hovering does not redraw at all: the point under the
// pointer is found in the same KDBush index and marked by an element over the canvas; a lasso's
// drag does not redraw either: its line is drawn on a canvas over the points (.points-lasso), and
// the points once, with their selection, after the mouse-up.
// The element says what it did: data-drawn (draws finished), data-indexed (indexes built),
// data-draw-ms (the last draw, to its next frame), data-renders (renders of the points),
// data-timings (JSON: the first draw's parts in ms since navigation), data-points (points drawn),
// data-lines (lines drawn through them: 0 without trails), data-shown (points shown, after
// `shownOrder`), data-connection-draws (times the lines' curves were drawn); its `scatterplot`
// property is the regl-scatterplot instance.
import createScatterplot, { createRenderer } from 'regl-scatterplot';
import createKDBushClass from 'regl-scatterplot/src/kdbush-class';

const React = window.React;

const KDBush = createKDBushClass();
const HOVER_PX = 6; // the pointer finds the nearest point within this many pixels
const LASSO_LINE = '#333333';

// A renderer whose frames are skipped while `held()`: regl-scatterplot draws every point again
// at each move of a lasso (its line is drawn with them), most of a second each for a million
// points in software WebGL; held during the drag, the line is drawn over the canvas instead
// (drawPath), and a frame skipped is drawn at the first frame after.
function heldRenderer(held) {
  const renderer = createRenderer();
  return new Proxy(renderer, {
    get(target, key) {
      if (key === 'onFrame') return (draw) => target.onFrame(() => { if (!held()) draw(); });
      return target[key];
    },
  });
}

// The lasso's path so far (canvas pixels) on the overlay canvas; an empty path clears it.
function drawPath(overlay, path) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.round(overlay.clientWidth * ratio);
  const height = Math.round(overlay.clientHeight * ratio);
  if (overlay.width !== width || overlay.height !== height) Object.assign(overlay, { width, height });
  const context = overlay.getContext('2d');
  context.clearRect(0, 0, width, height);
  if (path.length < 2) return;
  context.strokeStyle = LASSO_LINE;
  context.lineWidth = 1.5 * ratio;
  context.beginPath();
  path.forEach(([x, y], i) => (i ? context.lineTo(x * ratio, y * ratio) : context.moveTo(x * ratio, y * ratio)));
  context.stroke();
}

function decode(base64, Type) {
  let bytes;
  if (typeof Uint8Array.fromBase64 === 'function') {
    bytes = Uint8Array.fromBase64(base64 || ''); // native (Chromium 140+): no string of a million characters walked in JS
  } else {
    const text = window.atob(base64 || '');
    bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
  }
  return new Type(bytes.buffer, bytes.byteOffset, bytes.byteLength / Type.BYTES_PER_ELEMENT);
}

// Coordinates come as uint16 pairs over [-0.95, 0.95] (encode_points): half the bytes of float32,
// a step of 1/34,000 of the view.
const SPAN = 1.9 / 65535;

function arrayPoints(coordinates) {
  const xy = decode(coordinates, Uint16Array);
  const points = new Array(xy.length / 2);
  for (let i = 0; i < points.length; i += 1) points[i] = [xy[2 * i] * SPAN - 0.95, xy[2 * i + 1] * SPAN - 0.95, 0];
  return points;
}

// Two points spanning x and y: the screen position of a data position is an affine map per axis
// (regl-scatterplot's 2D camera pans and zooms, it does not rotate), read from these two.
function anchors(points) {
  let [minX, maxX, minY, maxY] = [0, 0, 0, 0];
  for (let i = 1; i < points.length; i += 1) {
    if (points[i][0] < points[minX][0]) minX = i;
    if (points[i][0] > points[maxX][0]) maxX = i;
    if (points[i][1] < points[minY][1]) minY = i;
    if (points[i][1] > points[maxY][1]) maxY = i;
  }
  return { x: [minX, maxX], y: [minY, maxY] };
}

function axisMap(plot, points, [a, b], axis) {
  const span = points[b][axis] - points[a][axis];
  if (!(span > 0)) return null;
  const sa = plot.getScreenPosition(a)[axis];
  const scale = (plot.getScreenPosition(b)[axis] - sa) / span;
  return { scale, offset: sa - scale * points[a][axis] };
}

// The point nearest the pointer (canvas pixels), within HOVER_PX, or -1.
function nearest(s, px, py) {
  if (!s.plot || !s.kd || !s.anchors) return -1;
  const mx = axisMap(s.plot, s.points, s.anchors.x, 0);
  const my = axisMap(s.plot, s.points, s.anchors.y, 1);
  if (!mx || !my) return -1;
  const x = (px - mx.offset) / mx.scale;
  const y = (py - my.offset) / my.scale;
  const rx = Math.abs(HOVER_PX / mx.scale);
  const ry = Math.abs(HOVER_PX / my.scale);
  let best = -1;
  let bestDistance = HOVER_PX * HOVER_PX;
  for (const i of s.kd.range(x - rx, y - ry, x + rx, y + ry)) {
    if (s.mask && !s.mask[i]) continue; // a point not shown (another frame's)
    const dx = (s.points[i][0] - x) * mx.scale;
    const dy = (s.points[i][1] - y) * my.scale;
    if (dx * dx + dy * dy <= bestDistance) { bestDistance = dx * dx + dy * dy; best = i; }
  }
  return best;
}

// The points with their line id and place along it (regl-scatterplot's 5th and 6th components).
function setLines(points, lineIds, lineOrders) {
  const ids = decode(lineIds, Uint32Array);
  const orders = decode(lineOrders, Uint8Array);
  const distinct = new Set();
  for (let i = 0; i < points.length; i += 1) {
    points[i][3] = 0;
    points[i][4] = ids[i];
    points[i][5] = orders[i];
    distinct.add(ids[i]);
  }
  return { ids, orders, count: distinct.size };
}

// Marks the points at place `order` along their lines as shown (their second value 1, sized by
// it: the others 0, drawn 1 px, where the lines pass; a size of 0 fills the whole canvas in
// regl-scatterplot 1.16; every point when `order` is null), and keeps a mask of
// them for the hover (null: every point). A filter would not do: regl-scatterplot draws the
// connections of the filtered points only. Returns the number shown.
function markShown(s, order) {
  if (!s.lines || order === null || order === undefined) {
    s.mask = null;
    if (s.lines) for (let i = 0; i < s.points.length; i += 1) s.points[i][3] = 1;
    return s.points.length;
  }
  let count = 0;
  s.mask = new Uint8Array(s.points.length);
  for (let i = 0; i < s.points.length; i += 1) {
    const shown = s.lines.orders[i] === order ? 1 : 0;
    s.points[i][3] = shown;
    s.mask[i] = shown;
    count += shown;
  }
  return count;
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

// {width, height} of `box` where they differ from the size the plot was last given (kept), else {}.
function resized(s, box) {
  const r = box.getBoundingClientRect();
  if (!(r.width > 0 && r.height > 0) || (r.width === s.size[0] && r.height === s.size[1])) return {};
  s.size = [r.width, r.height];
  return { width: r.width, height: r.height };
}

function PointView(props) {
  const { id, className, style, setProps, coordinates, values, valueKind, palette, pointSize,
    selectedIndices, lineIds, lineOrders, shownOrder } = props;
  const canvasRef = React.useRef(null);
  const boxRef = React.useRef(null);
  const markRef = React.useRef(null);
  const overlayRef = React.useRef(null);
  const state = React.useRef({ plot: null, points: null, coordinates: null, index: null, kd: null, anchors: null,
    palette: null, drawing: Promise.resolve(), lasso: false, emitted: null, revision: 0, renders: 0, hovered: -1 });

  React.useEffect(() => {
    const box = boxRef.current;
    const canvas = canvasRef.current;
    const { width, height } = box.getBoundingClientRect();
    const s = state.current;
    s.size = [Math.max(width, 1), Math.max(height, 1)];
    s.renderer = heldRenderer(() => s.lassoing || s.recolouring);
    const plot = createScatterplot({
      canvas, renderer: s.renderer, width: s.size[0], height: s.size[1],
      pointSize: pointSize || 2, pointSizeSelected: 1, opacity: 0.8, performanceMode: !!props.performanceMode, colorBy: 'valueA',
      spatialIndexUseWorker: false, lassoColor: [0.2, 0.2, 0.2, 1], deselectOnEscape: true, deselectOnDblClick: true,
      // events as they happen: a lasso's points go to the server before the render that shows
      // them selected (asynchronous events come after a setTimeout, often after that render)
      syncEvents: true,
    });
    s.plot = plot;
    box.scatterplot = plot; // for scripts and tests: e.g. getScreenPosition(i), get('points')
    plot.subscribe('pointConnectionsDraw', () => { // regl-scatterplot's curves through the lines' points
      s.connectionDraws = (s.connectionDraws || 0) + 1;
      box.setAttribute('data-connection-draws', String(s.connectionDraws));
    });
    plot.subscribe('drawing', () => {
      s.renders += 1;
      box.setAttribute('data-renders', String(s.renders));
    });
    const mark = (i) => {
      const marker = markRef.current;
      if (!marker) return;
      if (i < 0) { marker.style.display = 'none'; return; }
      const [x, y] = plot.getScreenPosition(i);
      Object.assign(marker.style, { display: 'block', left: `${x - 5}px`, top: `${y - 5}px` });
    };
    // Hover without a redraw: regl-scatterplot redraws every point on each hover, so the pointer's
    // moves with no button held stop here (its handler listens on the window) and are answered
    // from the spatial index; a drag (pan, lasso) goes on to it.
    const onMove = (event) => {
      if (event.buttons !== 0) {
        mark(-1);
        if (s.lassoing) {
          const r = canvas.getBoundingClientRect();
          s.path.push([event.clientX - r.left, event.clientY - r.top]);
          drawPath(overlayRef.current, s.path);
        }
        return;
      }
      event.stopPropagation();
      const r = canvas.getBoundingClientRect();
      const i = nearest(s, event.clientX - r.left, event.clientY - r.top);
      mark(i);
      if (i !== s.hovered) {
        s.hovered = i;
        if (i >= 0) setProps(s.lines ? { hoveredIndex: i, hoveredLine: s.lines.ids[i] } : { hoveredIndex: i });
      }
    };
    const onLeave = () => { s.hovered = -1; mark(-1); };
    canvas.addEventListener('mousemove', onMove);
    canvas.addEventListener('mouseleave', onLeave);
    plot.subscribe('view', () => mark(-1));
    plot.subscribe('lassoStart', () => {
      s.lasso = true;
      s.lassoing = true; // no render of the points until the mouse-up (heldRenderer)
      s.path = s.downAt ? [s.downAt] : [];
    });
    const release = () => { // capture phase: before regl-scatterplot's own mouse-up ends the lasso
      if (!s.lassoing) return;
      s.lassoing = false;
      s.path = [];
      drawPath(overlayRef.current, s.path);
    };
    window.addEventListener('mouseup', release, true);
    // A lasso closed where it began ends in a click there (its mouse-up within regl-scatterplot's
    // lassoMinDist of its mouse-down), which regl-scatterplot answers by selecting the point under
    // it alone, in place of the lasso's points: that click is swallowed.
    plot.subscribe('lassoEnd', () => { s.lassoEnded = true; });
    const onDown = (event) => {
      s.lassoEnded = false;
      const r = canvas.getBoundingClientRect();
      s.downAt = [event.clientX - r.left, event.clientY - r.top];
    };
    const onClick = (event) => {
      if (!s.lassoEnded) return;
      s.lassoEnded = false;
      event.stopImmediatePropagation();
    };
    canvas.addEventListener('mousedown', onDown, true);
    canvas.addEventListener('click', onClick, true);
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
      const size = resized(s, box); // only a real change: each set() redraws every point
      if (size.width) plot.set(size);
    });
    resize.observe(box);
    return () => {
      resize.disconnect();
      canvas.removeEventListener('mousemove', onMove);
      canvas.removeEventListener('mouseleave', onLeave);
      canvas.removeEventListener('mousedown', onDown, true);
      window.removeEventListener('mouseup', release, true);
      canvas.removeEventListener('click', onClick, true);
      plot.destroy();
      s.renderer.destroy(); // a renderer passed in is its maker's to destroy
      s.plot = null;
    };
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
      const timings = { effect: Math.round(started) };
      const fresh = coordinates !== s.coordinates;
      const colours = palette && palette.length ? palette : ['#4c78a8'];
      const recoloured = !sameList(colours, s.palette);
      s.palette = colours;
      // Each set() redraws at its next animation frame. Before new points are drawn it is
      // awaited (nothing is drawn by it; regl-scatterplot's own set() at its creation has its
      // frame first too), with the element's size where it changed (a view shown in a box that was
      // hidden: its observer would otherwise set it once more after the first render); on a
      // recolour it goes with the draw (one render shows both, frames held between them).
      // showPointConnections only where it changes: set on drawn points, regl-scatterplot computes
      // their curves again from its own copy of the points, which lacks their lines
      const show = !!lineIds === plot.get('showPointConnections') ? {} : { showPointConnections: !!lineIds };
      const connections = lineIds ? { ...show, pointConnectionColor: colours, pointConnectionColorBy: 'valueA',
        pointConnectionOpacity: 0.45, pointConnectionSize: 1, pointConnectionMaxIntPointsPerSegment: 8, sizeBy: 'valueB', pointSize: [1, (pointSize || 2) + 2] }
        : show;
      const ready = fresh ? plot.set({ pointColor: colours, ...connections, ...resized(s, boxRef.current) })
        : Promise.resolve();
      return ready.then(() => {
        timings.ready = Math.round(window.performance.now());
        if (fresh) {
          s.points = arrayPoints(coordinates);
          s.coordinates = coordinates;
          s.index = null;
          s.kd = null;
          s.anchors = anchors(s.points);
          s.lines = lineIds ? setLines(s.points, lineIds, lineOrders) : null;
        }
        setValues(s.points, values, continuous);
        timings.decoded = Math.round(window.performance.now());
        // a recolour that changes the palette: one render of the new values in the new palette.
        // regl-scatterplot's set() marks a redraw at its next animation frame, so frames are held
        // from the set() until the draw below has taken its points (promises, done before the next
        // task), else a frame shows the old values in the new palette or draws the points twice
        const recolour = !fresh && recoloured;
        if (recolour) s.recolouring = true;
        const paletteSet = recolour
          ? plot.set({ pointColor: colours, ...(s.lines ? { pointConnectionColor: colours } : {}) })
          : Promise.resolve();
        return paletteSet.then(() => {
          const options = { zDataType: continuous ? 'continuous' : 'categorical' };
          if (s.lines) options.wDataType = 'categorical'; // 1: a shown point (markShown)
          if (s.lines) box.setAttribute('data-shown', String(markShown(s, s.order)));
          if (!fresh && s.index) {
            options.spatialIndex = s.index; // a recolour: the index of the same points
            options.preventFilterReset = true;
          }
          const selected = selectedIndices && selectedIndices.length ? selectedIndices : undefined;
          if (selected) options.select = selected;
          const drawn = plot.draw(s.points, options);
          if (recolour) window.setTimeout(() => { s.recolouring = false; }, 0);
          return drawn;
        });
      }).then(() => {
        timings.drawn = Math.round(window.performance.now());
        if (fresh) {
          s.index = plot.get('spatialIndex');
          s.kd = KDBush.from(s.index);
          s.indexed = (s.indexed || 0) + 1;
          box.setAttribute('data-indexed', String(s.indexed)); // spatial indexes built: once per point set
        }
        return new Promise((done) => window.requestAnimationFrame(done));
      }).then(() => {
        s.revision += 1;
        box.setAttribute('data-points', String(s.points.length));
        box.setAttribute('data-lines', String(s.lines ? s.lines.count : 0));
        timings.frame = Math.round(window.performance.now());
        box.setAttribute('data-draw-ms', String(Math.round(window.performance.now() - started)));
        box.setAttribute('data-timings', JSON.stringify(timings));
        box.setAttribute('data-drawn', String(s.revision));
        box.removeAttribute('data-drawing');
      });
    }).catch((error) => { box.setAttribute('data-error', String(error)); });
  }, [coordinates, values, valueKind, palette, lineIds, lineOrders]);

  React.useEffect(() => {
    const s = state.current;
    const order = shownOrder === null || shownOrder === undefined ? null : Number(shownOrder);
    if (order === s.order) return;
    s.order = order;
    const box = boxRef.current;
    s.drawing = s.drawing.then(() => {
      if (!s.plot || !s.points || !s.lines) return undefined;
      box.setAttribute('data-shown', String(markShown(s, order)));
      return s.plot.draw(s.points, { zDataType: 'categorical', wDataType: 'categorical', spatialIndex: s.index,
        preventFilterReset: true });
    });
  }, [shownOrder]);

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
    React.createElement('canvas', { ref: canvasRef, style: { width: '100%', height: '100%', display: 'block' } }),
    React.createElement('canvas', { ref: overlayRef, className: 'points-lasso',
      style: { position: 'absolute', left: 0, top: 0, width: '100%', height: '100%', pointerEvents: 'none' } }),
    React.createElement('div', { ref: markRef, className: 'points-hover-mark',
      style: { display: 'none', position: 'absolute', width: '8px', height: '8px', borderRadius: '50%',
        border: '1px solid #111', pointerEvents: 'none' } }));
}

PointView.defaultProps = { valueKind: 'categorical', pointSize: 2, selectedIndices: [], shownOrder: null };

window.nnvis_components = Object.assign(window.nnvis_components || {}, { PointView });
