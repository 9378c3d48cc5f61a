"""What each node type in an example workflow takes and gives, in the terms ComfyUI's saved
(UI-format) workflows use: socket inputs, widget inputs in order, and output slots.

Our nodes' signatures come from their live INPUT_TYPES, so a renamed or retyped input shows up
as a workflow that no longer fits; core nodes' from a file per ComfyUI version (read off
ComfyUI's source, since ComfyUI itself is not installed here): tests/data/core_nodes.json for
0.3.64, the oldest version the pack supports, and tests/data/core_nodes_v0.45.json for current
core. Each workflow is checked against the version it needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache

from tools.pack import PACK_DIR, load_pack

OLDEST, CURRENT = "0.3.64", "0.45"
CORE_NODES = {OLDEST: PACK_DIR / "tests" / "data" / "core_nodes.json",
              CURRENT: PACK_DIR / "tests" / "data" / "core_nodes_v0.45.json"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
SEED_CONTROLS = ("fixed", "increment", "decrement", "randomize")


@dataclass(frozen=True)
class Input:
    name: str
    type: str
    options: dict = field(default_factory=dict)
    optional: bool = False
    choices: tuple | None = None  # a combo's options; None where they depend on the installation

    @property
    def widget(self) -> bool:
        return self.type in WIDGET_TYPES and not self.options.get("forceInput")

    @property
    def seed_control(self) -> bool:
        """The frontend saves a control_after_generate value right after this widget's."""
        if self.type != "INT":
            return False
        return self.options.get("control_after_generate", self.name in ("seed", "noise_seed"))

    @property
    def upload_button(self) -> bool:
        """The frontend saves an upload button's value ("image") right after this combo's."""
        return self.type == "COMBO" and bool(self.options.get("image_upload") or self.options.get("video_upload"))

    def default(self):
        if "default" in self.options:
            return self.options["default"]
        if self.type == "COMBO":
            return self.choices[0] if self.choices else ""
        return {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}[self.type]


@dataclass(frozen=True)
class Signature:
    type: str
    inputs: tuple[Input, ...]
    outputs: tuple[tuple[str, str], ...]  # (name, type) per slot
    ours: bool
    display_name: str = ""
    frontend_only: bool = False

    @property
    def widgets(self) -> list[Input]:
        return [i for i in self.inputs if i.widget]

    @property
    def sockets(self) -> list[Input]:
        return [i for i in self.inputs if not i.widget]

    def input(self, name: str) -> Input | None:
        return next((i for i in self.inputs if i.name == name), None)


def _input(name: str, spec, optional: bool) -> Input:
    kind, options = (spec[0], spec[1] if len(spec) > 1 else {}) if isinstance(spec, (list, tuple)) else (spec, {})
    options = dict(options or {})
    if isinstance(kind, (list, tuple)):  # classic combo: the options list itself
        return Input(name, "COMBO", options, optional, tuple(kind))
    if kind == "COMBO" and "options" in options:
        return Input(name, "COMBO", options, optional, tuple(options["options"]))
    return Input(name, kind, options, optional)


def _from_input_types(input_types: dict) -> tuple[Input, ...]:
    return tuple(
        _input(name, spec, group == "optional")
        for group in ("required", "optional")
        for name, spec in input_types.get(group, {}).items()
    )


def ours() -> dict[str, Signature]:
    """Our nodes as registered now (fresh each call: combo choices can change with the models folder)."""
    pack = load_pack()
    found = {}
    for key, cls in pack.NODE_CLASS_MAPPINGS.items():
        names = getattr(cls, "RETURN_NAMES", None) or cls.RETURN_TYPES
        found[key] = Signature(
            key, _from_input_types(cls.INPUT_TYPES()), tuple(zip(names, cls.RETURN_TYPES)), True,
            pack.NODE_DISPLAY_NAME_MAPPINGS.get(key, key),
        )
    return found


@cache
def core(version: str = OLDEST) -> dict[str, Signature]:
    """ComfyUI ``version``'s core nodes, as recorded in its file of ``CORE_NODES``."""
    data = json.loads(CORE_NODES[version].read_text(encoding="utf-8"))
    return {
        key: Signature(key, _from_input_types(spec), tuple(tuple(o) for o in spec["outputs"]), False,
                       spec["display_name"], spec.get("frontend_only", False))
        for key, spec in data.items() if not key.startswith("_")
    }


def signatures(version: str = OLDEST) -> dict[str, Signature]:
    return {**core(version), **ours()}


# Node modes as the frontend saves them: 0 runs, 2 is muted ("never"), 4 is bypassed.
ACTIVE, MUTED, BYPASSED = 0, 2, 4


def check_workflow(workflow: dict, sigs: dict[str, Signature] | None = None) -> list[str]:
    """Every way ``workflow`` (UI format) does not fit the node signatures (by default ComfyUI
    0.3.64's core nodes and ours); empty when it fits."""
    sigs = signatures() if sigs is None else sigs
    problems = []
    if workflow.get("version") != 0.4:
        problems.append(f"version is {workflow.get('version')!r}, not 0.4")
    nodes = {node["id"]: node for node in workflow.get("nodes", [])}
    for node in nodes.values():
        where = f"node {node['id']} ({node['type']})"
        sig = sigs.get(node["type"])
        if sig is None:
            problems.append(f"{where}: neither a core node of the ComfyUI version checked nor one of ours")
            continue
        problems += [f"{where}: {p}" for p in _node_problems(node, sig)]
    problems += _link_problems(workflow.get("links", []), nodes, sigs)
    return problems


def _node_problems(node: dict, sig: Signature) -> list[str]:
    problems = []
    for slot in node.get("inputs", []):
        spec = sig.input(slot["name"])
        if spec is None:
            problems.append(f"input '{slot['name']}' is not an input of the node")
        elif "widget" in slot and not spec.widget:
            problems.append(f"input '{slot['name']}' is saved as a widget but is a {spec.type} socket")
    saved = {slot["name"] for slot in node.get("inputs", [])}
    for spec in sig.inputs:
        if spec.name not in saved and not sig.frontend_only and (spec.widget or not spec.optional):
            problems.append(f"input '{spec.name}' of the node is not in the saved inputs")
    linked = {slot["name"] for slot in node.get("inputs", []) if slot.get("link") is not None}
    if node.get("mode", ACTIVE) == ACTIVE:
        for spec in sig.sockets:
            if not spec.optional and spec.name not in linked:
                problems.append(f"required input '{spec.name}' is not connected")
    saved = [(o.get("name"), o.get("type")) for o in node.get("outputs", [])]
    if saved != list(sig.outputs):
        problems.append(f"outputs {saved} differ from the node's {list(sig.outputs)}")
    return problems + _widget_problems(node.get("widgets_values", []), sig)


def _widget_problems(values, sig: Signature) -> list[str]:
    if isinstance(values, dict):
        return ["widgets_values is an object; the frontend saves a list"]
    expected = []  # (label, check) per saved value, in the frontend's order
    for spec in sig.widgets:
        expected.append((spec.name, lambda v, spec=spec: _value_problem(spec, v)))
        if spec.seed_control:
            expected.append((f"{spec.name} control_after_generate",
                             lambda v: None if v in SEED_CONTROLS else f"{v!r} is not one of {SEED_CONTROLS}"))
        if spec.upload_button:
            expected.append((f"{spec.name} upload", lambda v: None if v == "image" else f"{v!r} is not 'image'"))
    if len(values) != len(expected):
        names = [label for label, _ in expected]
        return [f"{len(values)} widget values saved; the node's widgets are {len(expected)}: {names}"]
    return [f"widget '{label}': {problem}" for (label, check), value in zip(expected, values)
            if (problem := check(value)) is not None]


def _value_problem(spec: Input, value) -> str | None:
    kind = spec.type
    if kind == "BOOLEAN":
        return None if isinstance(value, bool) else f"{value!r} is not a boolean"
    if kind == "STRING":
        return None if isinstance(value, str) else f"{value!r} is not a string"
    if kind == "COMBO":
        if spec.choices is None:
            return None if isinstance(value, str) and value else f"{value!r} is not an option name"
        return None if value in spec.choices else f"{value!r} is not one of {list(spec.choices)}"
    if kind == "INT" and (isinstance(value, bool) or not isinstance(value, int)):
        return f"{value!r} is not an integer"
    if kind == "FLOAT" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return f"{value!r} is not a number"
    low, high = spec.options.get("min"), spec.options.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        return f"{value!r} is outside {low}..{high}"
    return None


def _link_problems(links: list, nodes: dict, sigs: dict[str, Signature]) -> list[str]:
    problems = []
    for link in links:
        link_id, origin_id, origin_slot, target_id, target_slot, link_type = link
        where = f"link {link_id}"
        origin, target = nodes.get(origin_id), nodes.get(target_id)
        if origin is None or target is None:
            problems.append(f"{where}: joins a node that is not in the workflow")
            continue
        source_sig, target_sig = sigs.get(origin["type"]), sigs.get(target["type"])
        if source_sig is None or target_sig is None:
            continue  # reported with the node
        if origin_slot >= len(source_sig.outputs):
            problems.append(f"{where}: {origin['type']} has no output slot {origin_slot}")
            continue
        inputs = target.get("inputs", [])
        if target_slot >= len(inputs) or inputs[target_slot].get("link") != link_id:
            problems.append(f"{where}: input slot {target_slot} of node {target_id} does not hold this link")
            continue
        if link_id not in (origin.get("outputs", [])[origin_slot].get("links") or []):
            problems.append(f"{where}: output slot {origin_slot} of node {origin_id} does not list this link")
        spec = target_sig.input(inputs[target_slot]["name"])
        if spec is None:
            continue  # reported with the node
        made = source_sig.outputs[origin_slot][1]
        wanted = "COMBO" if spec.type == "COMBO" else spec.type
        if "*" not in (made, wanted) and made != wanted:
            problems.append(f"{where}: {origin['type']} gives {made} but {target['type']}.{spec.name} takes {wanted}")
        if "*" not in (made, link_type) and link_type != made:
            problems.append(f"{where}: saved as {link_type} but carries {made}")
    return problems


def widget_values(node: dict, sig: Signature) -> dict:
    """The node's own widget values by name, without the extra values the frontend saves."""
    values = iter(node["widgets_values"])
    named = {}
    for spec in sig.widgets:
        named[spec.name] = next(values)
        if spec.seed_control or spec.upload_button:
            next(values)
    return named


def api_prompt(workflow: dict, sigs: dict[str, Signature]) -> dict:
    """``workflow`` (UI format) as the API prompt the frontend queues: the nodes that run, each with its
    widget values and its links as ``[origin id, output slot]``; muted and note nodes are left out, as
    are links from them."""
    nodes = {n["id"]: n for n in workflow["nodes"]
             if n.get("mode", ACTIVE) == ACTIVE and not sigs[n["type"]].frontend_only}
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node_id, node in nodes.items():
        inputs = widget_values(node, sigs[node["type"]])
        for slot in node.get("inputs", []):
            link = links.get(slot.get("link"))
            if link is not None and link[1] in nodes:
                inputs[slot["name"]] = [str(link[1]), link[2]]
        prompt[str(node_id)] = {"class_type": node["type"], "inputs": inputs}
    return prompt
