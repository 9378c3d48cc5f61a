"""Writes the example workflows in example_workflows/ (ComfyUI's template browser lists them).

Each is built from the nodes' signatures (tools/workflow_schema.py), so widget values come in the
order the frontend saves them, and is checked before it is written. Run from the repo root after
changing a node's inputs: ``.venv/bin/python -m tools.example_workflows``; then
``python -m tools.workflow_previews`` for the thumbnails. A workflow whose nodes are not
registered is skipped, with a note.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tools.pack import PACK_DIR
from tools.workflow_schema import ACTIVE, MUTED, Signature, check_workflow, signatures

FOLDER = PACK_DIR / "example_workflows"
NOTE_COLOUR, NOTE_BG = "#432", "#653"


class Graph:
    """A UI-format workflow under construction: nodes by id, links as the frontend saves them."""

    def __init__(self, sigs: dict[str, Signature]):
        self.sigs = sigs
        self.nodes: list[dict] = []
        self.links: list[list] = []
        self.groups: list[dict] = []

    def node(self, type_: str, pos, *, title: str | None = None, mode: int = ACTIVE, size=None, **widgets) -> dict:
        sig = self.sigs[type_]
        unknown = set(widgets) - {w.name for w in sig.widgets}
        if unknown:
            raise KeyError(f"{type_} has no widget {sorted(unknown)}")
        values = []
        for spec in sig.widgets:
            values.append(widgets.get(spec.name, spec.default()))
            if spec.seed_control:
                values.append("fixed")
            if spec.upload_button:
                values.append("image")
        node = {
            "id": len(self.nodes) + 1,
            "type": type_,
            "pos": list(pos),
            "size": list(size or _size(sig)),
            "flags": {},
            "order": 0,
            "mode": mode,
            # Sockets, then every widget as an input slot too, as the frontend saves them.
            "inputs": [{"name": s.name, "type": s.type, "link": None} for s in sig.sockets]
            + [{"name": w.name, "type": w.type, "widget": {"name": w.name}, "link": None}
               for w in sig.widgets if not sig.frontend_only],
            "outputs": [{"name": name, "type": kind, "links": [], "slot_index": i}
                        for i, (name, kind) in enumerate(sig.outputs)],
            "properties": {"Node name for S&R": type_},
            "widgets_values": values,
        }
        if title:
            node["title"] = title
        self.nodes.append(node)
        return node

    def note(self, pos, text: str, size=(420, 260)) -> dict:
        note = self.node("MarkdownNote", pos, size=size, text=text)
        note.update(color=NOTE_COLOUR, bgcolor=NOTE_BG)
        return note

    def link(self, source: dict, output: str, target: dict, input_: str) -> None:
        sig = self.sigs[source["type"]]
        slot = [name for name, _ in sig.outputs].index(output)
        kind = sig.outputs[slot][1]
        inputs = target["inputs"]
        index = next(i for i, s in enumerate(inputs) if s["name"] == input_)
        link_id = len(self.links) + 1
        inputs[index]["link"] = link_id
        source["outputs"][slot]["links"].append(link_id)
        self.links.append([link_id, source["id"], slot, target["id"], index, kind])

    def group(self, title: str, nodes: list[dict], colour: str) -> None:
        left = min(n["pos"][0] for n in nodes) - 20
        top = min(n["pos"][1] for n in nodes) - 60
        right = max(n["pos"][0] + n["size"][0] for n in nodes) + 20
        bottom = max(n["pos"][1] + n["size"][1] for n in nodes) + 20
        self.groups.append({"id": len(self.groups) + 1, "title": title, "bounding": [left, top, right - left, bottom - top],
                            "color": colour, "font_size": 22, "flags": {}})

    def workflow(self, name: str) -> dict:
        for order, node in enumerate(_execution_order(self.nodes, self.links)):
            node["order"] = order
        for node in self.nodes:  # the frontend saves an output without links as null
            for out in node["outputs"]:
                out["links"] = out["links"] or None
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"maskforge/example_workflows/{name}")),
            "revision": 0,
            "last_node_id": len(self.nodes),
            "last_link_id": len(self.links),
            "nodes": self.nodes,
            "links": self.links,
            "groups": self.groups,
            "config": {},
            "extra": {"ds": {"scale": 0.75, "offset": [40, 60]}},
            "version": 0.4,
        }


def _size(sig: Signature) -> tuple[int, int]:
    rows = max(len(sig.sockets), len(sig.outputs))
    height = 30 + 22 * rows + 26 * len(sig.widgets)
    height += sum(90 for w in sig.widgets if w.options.get("multiline"))
    if sig.type in ("LoadImage", "SaveImage", "PreviewImage"):
        height += 250
    if any(w.name == "labels" for w in sig.widgets):
        height += 26  # the label picker's button
    return (340 if sig.ours else 300), height


def _execution_order(nodes: list[dict], links: list[list]) -> list[dict]:
    parents = {n["id"]: {link[1] for link in links if link[3] == n["id"]} for n in nodes}
    done, order = set(), []
    while len(order) < len(nodes):
        ready = [n for n in nodes if n["id"] not in done and parents[n["id"]] <= done]
        if not ready:
            raise ValueError("the workflow has a cycle")
        for node in ready:
            done.add(node["id"])
            order.append(node)
    return order


# --- the workflows -----------------------------------------------------------------------------

def blue_mask_for_removal_service(g: Graph) -> None:
    """Blue mask for a removal service"""
    g.note((0, 0), (
        "## Blue mask for a removal service\n\n"
        "AI HomeDesign's item removal wants an image that is **#7878CD where to remove** and black elsewhere.\n\n"
        "1. In **Load Image**, pick your photo, right-click → *Open in MaskEditor* and paint over what to remove.\n"
        "2. **Grow / Invert Mask** fills holes and grows the painted area a little so edges are covered.\n"
        "3. **Mask to Blue Mask Image** makes the blue-on-black image; **Save Image** writes it to "
        "`output/blue_mask_*.png`, ready to upload with the photo.\n\n"
        "No model is needed. (`Blue Mask Image to Mask` reads such an image back into a MASK.)"
    ), size=(420, 300))
    image = g.node("LoadImage", (0, 340), image="example.png")
    grow = g.node("MaskForgeGrowInvertMask", (360, 60), fill_holes=True, min_region_px=64, grow=8)
    blue = g.node("MaskForgeMaskToBlueMask", (760, 60))
    save = g.node("SaveImage", (760, 260), filename_prefix="blue_mask")
    g.link(image, "MASK", grow, "mask")
    g.link(grow, "mask", blue, "mask")
    g.link(blue, "blue_mask", save, "images")


WORKFLOWS = {
    "blue_mask_for_removal_service": blue_mask_for_removal_service,
}


def build(name: str, sigs: dict[str, Signature]) -> dict:
    g = Graph(sigs)
    WORKFLOWS[name](g)
    workflow = g.workflow(name)
    problems = check_workflow(workflow, sigs)
    if problems:
        raise ValueError(f"{name} does not fit the nodes:\n  " + "\n  ".join(problems))
    return workflow


def main() -> None:
    sigs = signatures()
    FOLDER.mkdir(exist_ok=True)
    for name in WORKFLOWS:
        try:
            workflow = build(name, sigs)
        except KeyError as missing:
            print(f"skipped {name}: node {missing} is not registered yet")
            continue
        path = FOLDER / f"{name}.json"
        path.write_text(json.dumps(workflow, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {Path(path).relative_to(PACK_DIR)}")


if __name__ == "__main__":
    main()
