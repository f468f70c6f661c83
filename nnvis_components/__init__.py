"""nnvis's Dash components built from JavaScript: `PointView`, a WebGL scatter plot of up to
millions of observations (regl-scatterplot) that can be hovered, clicked, lassoed and recoloured.

The bundle `pointview.min.js` is built from components/pointview/ (its source, package.json and
lockfile) by components/pointview/build.sh and shipped here, as Dash's own component libraries
ship theirs: installing nnvis needs no Node."""

from nnvis_components.pointview import PointView, encode_lines, encode_points, encode_values

__version__ = "0.1.0"

_js_dist = [{"relative_package_path": "pointview.min.js", "namespace": "nnvis_components"}]

__all__ = ["PointView", "encode_lines", "encode_points", "encode_values"]
