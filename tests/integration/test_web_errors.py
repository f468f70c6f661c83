"""One error path for the callbacks (web.errors, web.inputs): every callback of the real app
refuses a value of the wrong type with a message naming the control and what it allows; bad
input inside a view is its own message; anything else a short message without internals."""

import json
import logging

import pytest

from nnvis.errors import NNVisError
from web.inputs import CHOICE, COUNT, EVENT, FLAG, INDICES, LIST, NAME, NUMBER, RECORD, TEXT, WHOLE, kind_of

# a value of the wrong type for each kind of control value
WRONG = {WHOLE: [1, 2], NAME: {"layer": 1}, CHOICE: [3], NUMBER: [3], TEXT: ["a"], LIST: "on", INDICES: "3-7",
         RECORD: "abc", EVENT: "abc", COUNT: {"n": 1}, FLAG: "yes"}


@pytest.fixture(scope="module")
def client(digits_workspace, tmp_path_factory):
    from app import create_app
    from nnvis.settings import Settings

    app = create_app(Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path_factory.mktemp("jobs")))
    test_client = app.server.test_client()
    test_client.get("/")
    return test_client


def outputs_of(spec: dict) -> list | dict:
    """The `outputs` part of a callback request for the callback `spec` of /_dash-dependencies."""
    found = []
    for text in spec["output"].strip(".").split("..."):
        name, _, suffix = text.partition("@")
        component, prop = name.rsplit(".", 1)
        found.append({"id": component, "property": prop + (f"@{suffix}" if suffix else "")})
    return found if spec["output"].startswith("..") else found[0]


def request_with(spec: dict, wrong: tuple, value) -> dict:
    """A request for callback `spec` with `value` for the input `wrong` and every other input empty."""
    def entries(items):
        return [{**item, "value": value if (item["id"], item["property"]) == wrong else None} for item in items]
    return {"output": spec["output"], "outputs": outputs_of(spec), "inputs": entries(spec["inputs"]),
            "state": entries(spec["state"]), "changedPropIds": [".".join(wrong)]}


def banner(response) -> str:
    return (response.get_json() or {}).get("sideUpdate", {}).get("error-banner", {}).get("children", "")


def wrong_type_cases(client) -> list[tuple[dict, tuple, object]]:
    """(callback, input, wrong value) for every typed input of every server-side callback answered
    in the request (background callbacks check theirs in the job)."""
    cases = []
    for spec in client.get("/_dash-dependencies").get_json():
        if spec.get("clientside_function") or spec.get("background") or not spec["output"] or \
                spec["output"].startswith("_pages") or spec["output"].endswith("-cancel.id"):  # Dash's own
            continue
        for item in spec["inputs"] + spec["state"]:
            kind = kind_of(item["id"], item["property"])
            if not item["id"].startswith("{") and kind is not None:  # pattern-matching ids: a list of inputs
                cases.append((spec, (item["id"], item["property"]), WRONG[kind]))
    return cases


def test_every_callback_names_the_control_given_a_value_of_the_wrong_type(client):
    cases = wrong_type_cases(client)
    assert len(cases) >= 150 and len({spec["output"] for spec, _, _ in cases}) >= 45
    for spec, (component, prop), value in cases:
        response = client.post("/_dash-update-component", json=request_with(spec, (component, prop), value))
        assert response.status_code == 200, (spec["output"], component, response.status_code)
        message = banner(response)
        assert f"({component}.{prop}) got " in message and "; allowed: " in message, (spec["output"], message)
        assert "TypeError" not in message and "Something went wrong" not in message
    assert client.get("/health").get_json() == {"status": "ok"}


def test_the_message_says_what_arrived_and_what_is_allowed(client):
    spec = callback_of(client, "ll-sparsity.figure")
    answer = client.post("/_dash-update-component",
                         json=request_with(spec, ("ll-threshold", "value"), [0.5, 1]))
    assert banner(answer) == "threshold (ll-threshold.value) got a list [0.5, 1]; allowed: a number"
    answer = client.post("/_dash-update-component", json=request_with(spec, ("ll-epoch", "value"), {"e": 2}))
    assert banner(answer) == "epoch (ll-epoch.value) got an object {'e': 2}; allowed: a whole number"


def callback_of(client, output: str) -> dict:
    """The callback that has `output` among its outputs (not a duplicate output of another)."""
    return next(s for s in client.get("/_dash-dependencies").get_json()
                if output in s["output"].strip(".").split("..."))


def post_view(client, output: str, values: dict, changed: str):
    spec = callback_of(client, output)
    body = request_with(spec, ("", ""), None)
    for item in body["inputs"] + body["state"]:
        item["value"] = values.get(f"{item['id']}.{item['property']}")
    body["changedPropIds"] = [changed]
    return client.post("/_dash-update-component", json=body)


def test_a_neuron_that_does_not_exist_names_the_allowed_range(client, digits_workspace):
    """Was a plain ValueError, shown as 'Something went wrong'."""
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    units = Analysis(Workspace(digits_workspace.path)).activations("hidden2", 2).shape[1]
    output = next(s["output"] for s in client.get("/_dash-dependencies").get_json()
                  if s["inputs"][:2] == [{"id": "selected-neuron", "property": "data"},
                                         {"id": "color-by", "property": "value"}])
    values = {"selected-neuron.data": units + 5, "color-by.value": "neuron", "workspace-select.value": 0,
              "layer-select.value": "hidden2", "epoch-select.value": 2, "drawn-grouping.data": "true",
              "projection-select.value": "pca"}
    answer = post_view(client, output, values, "selected-neuron.data")
    assert answer.status_code == 200
    assert banner(answer) == f"neuron {units + 5} does not exist at layer hidden2; allowed: 0..{units - 1}"


def test_an_unexpected_failure_is_logged_and_shown_without_its_text(caplog):
    from web.errors import error_message

    with caplog.at_level(logging.ERROR, logger="nnvis"):
        message = error_message(KeyError("/srv/secret/workspace.json"))
    assert message == "Something went wrong (KeyError); the view is unchanged. Try again, or pick another view."
    assert "/srv/secret" in caplog.text and "Traceback" not in message
    assert error_message(NNVisError("epoch 9 is not captured; allowed: 0, 1, 2")) == \
        "epoch 9 is not captured; allowed: 0, 1, 2"


def test_bad_input_found_inside_a_background_job_keeps_its_words():
    from dash.exceptions import BackgroundCallbackError

    from web.errors import error_message

    inside = BackgroundCallbackError(
        "An error occurred inside a background callback: unit 99 is out of range\nTraceback (most recent call "
        "last):\n  File \"/srv/app/web/jobs.py\", line 3, in run\nnnvis.errors.NNVisError: unit 99 is out of range\n")
    assert error_message(inside) == "unit 99 is out of range"
    crashed = BackgroundCallbackError("An error occurred inside a background callback: boom\nTraceback (most "
                                      "recent call last):\nRuntimeError: boom /srv/app\n")
    assert "/srv/app" not in error_message(crashed) and "Something went wrong" in error_message(crashed)
    refused = BackgroundCallbackError("An error occurred inside a background callback: The server runs 4 jobs "
                                      "already (at most 4); try again when one has finished.\n")
    assert error_message(refused) == "The server runs 4 jobs already (at most 4); try again when one has finished."


def test_a_view_shows_its_message_in_place_not_in_the_banner(client):
    answer = post_view(client, "ll-sparsity.figure", {"ll-ws.value": 0, "ll-layer.value": "hidden2",
                                                      "ll-epoch.value": 2, "ll-sparsity-by.value": "overall",
                                                      "ll-threshold.value": -1}, "ll-threshold.value")
    assert answer.status_code == 200 and banner(answer) == ""
    text = json.dumps(answer.get_json()["response"]["ll-sparsity"]["figure"]["layout"]["annotations"])
    assert "near-zero threshold -1 is out of range; allowed: a number >= 0" in text
