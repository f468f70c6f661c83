"""What each callback input may hold, checked once for every callback (`web.registry.callback`):
a value of the wrong type (a list where a number goes, a dict for an epoch, a string for a
class list...) is refused with an NNVisError naming the control and what it allows, before the
callback runs. An empty value (None) always passes: each callback says what an empty control means."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from nnvis.errors import NNVisError


@dataclass(frozen=True)
class Kind:
    """A type of control value: `accepts(value)` and, for the message, what is `allowed`."""
    allowed: str
    accepts: Callable[[object], bool]


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_whole(value) -> bool:
    return (_is_number(value) and float(value).is_integer()) or (isinstance(value, str) and value.isdigit())


WHOLE = Kind("a whole number", _is_whole)
NUMBER = Kind("a number", _is_number)
NAME = Kind("one of the control's choices (text)", lambda v: isinstance(v, str))
CHOICE = Kind("one of the control's choices (text or a number)", lambda v: isinstance(v, str) or _is_number(v))
TEXT = Kind("text", lambda v: isinstance(v, str))
LIST = Kind("a list of the control's choices", lambda v: isinstance(v, list) and all(
    isinstance(x, str) or _is_number(x) for x in v))
INDICES = Kind("a list of whole numbers", lambda v: isinstance(v, list) and all(_is_whole(x) for x in v))
EVENT = Kind("a plot event (an object)", lambda v: isinstance(v, dict))
COUNT = Kind("a click count (a whole number)", lambda v: _is_whole(v) and not isinstance(v, str))
FLAG = Kind("true or false", lambda v: isinstance(v, bool))
RECORD = Kind("an object", lambda v: isinstance(v, dict))

# control id -> kind, for the `value` and `data` properties (other properties: PROPERTY_KINDS)
CONTROL_KINDS: dict[str, Kind] = {
    **dict.fromkeys(["workspace-select", "evo-ws", "compare-ws", "compare-ws2", "dv-ws", "ll-ws", "ul-ws",
                     "epoch-select", "compare-epoch", "compare-epoch2", "dv-epoch", "ll-epoch", "ul-epoch",
                     "selected-neuron"], WHOLE),
    **dict.fromkeys(["layer-select", "compare-layer", "compare-layer2", "dv-layer", "ll-layer", "ul-layer",
                     "projection-select", "evo-method", "compare-method", "color-by", "compare-color",
                     "neuron-colour", "sequence-kind", "evo-coherence", "dv-sort", "ll-sparsity-by",
                     "ll-ablation-mode", "ll-ablation-on", "ul-rule", "drawn-grouping"], NAME),
    "sequence-anchor": CHOICE,
    **dict.fromkeys(["dv-observation", "dv-unit", "dv-topk", "ll-image", "ll-start", "ll-stop", "ll-step",
                     "ll-threshold", "ll-variance", "ul-unit", "ul-k", "ul-n", "frame-slider",
                     "ul-am-steps", "ul-am-lr", "ul-am-l2", "ul-am-sigma", "ul-am-every", "ul-am-jitter",
                     "ul-am-restarts"], NUMBER),
    "ul-observations": TEXT,
    **dict.fromkeys(["insets-toggle", "ll-cluster"], LIST),
    **dict.fromkeys(["class-filter", "shared-selection", "trail-selection"], INDICES),
    **dict.fromkeys(["selection-ranking", "dv-input", "job-request", "evo-job", "compare-job", "ll-ablation-request",
                     "ul-actmax-request", "neuron-job", "ll-strip-source", "patch-job"], RECORD),
}
PROPERTY_KINDS: dict[str, Kind] = {
    **dict.fromkeys(["hoverData", "clickData", "selectedData", "relayoutData"], EVENT),
    **dict.fromkeys(["n_clicks", "n_intervals"], COUNT),
    "disabled": FLAG, "max": NUMBER, "contents": TEXT, "filename": TEXT,
    **dict.fromkeys(["hoveredIndex", "clickedIndex"], WHOLE), "clicks": COUNT,  # the WebGL point view
    "selectedIndices": INDICES,
}
PREFIXES = re.compile(r"^(ul-am-|ul-|ll-|dv-|evo-|compare-)")


def kind_of(component_id, prop: str) -> Kind | None:
    """The kind of value `component_id`.`prop` holds; None when anything may come (e.g. children)."""
    if isinstance(component_id, dict):
        component_id = component_id.get("type")
    if prop in ("value", "data"):
        return CONTROL_KINDS.get(str(component_id))
    return PROPERTY_KINDS.get(prop)


def control_name(component_id) -> str:
    """A short name of a control for messages: 'layer' for 'layer-select', 'threshold' for 'll-threshold'."""
    name = str(component_id.get("type") if isinstance(component_id, dict) else component_id)
    return PREFIXES.sub("", name).removesuffix("-select").replace("-", " ")


def described(value) -> str:
    """What arrived, briefly (never the whole value: it may be large)."""
    kind = {bool: "true/false", list: "a list", dict: "an object", str: "text", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)
    shown = repr(value)
    return f"{kind} {shown}" if len(shown) <= 40 else kind


def check_input(component_id, prop: str, value, many: bool = False) -> None:
    """NNVisError naming the control when `value` is not what `component_id`.`prop` holds;
    `many`: a pattern-matching input (a list of such values, one per matching control)."""
    kind = kind_of(component_id, prop)
    if kind is None or value is None:
        return
    values = value if many and isinstance(value, list) else [value]
    if many and not isinstance(value, list) or not all(v is None or kind.accepts(v) for v in values):
        where = str(component_id.get("type") if isinstance(component_id, dict) else component_id)
        raise NNVisError(f"{control_name(component_id)} ({where}.{prop}) got {described(value)}; "
                         f"allowed: {'a list, each ' if many else ''}{kind.allowed}")
