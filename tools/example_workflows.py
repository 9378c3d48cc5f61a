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


class MissingNode(LookupError):
    """The workflow uses a node type that is not registered (yet)."""


class Graph:
    """A UI-format workflow under construction: nodes by id, links as the frontend saves them."""

    def __init__(self, sigs: dict[str, Signature]):
        self.sigs = sigs
        self.nodes: list[dict] = []
        self.links: list[list] = []
        self.groups: list[dict] = []

    def node(self, type_: str, pos, *, title: str | None = None, mode: int = ACTIVE, size=None, **widgets) -> dict:
        if type_ not in self.sigs:
            raise MissingNode(type_)
        sig = self.sigs[type_]
        unknown = set(widgets) - {w.name for w in sig.widgets}
        if unknown:
            raise ValueError(f"{type_} has no widget {sorted(unknown)}")
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
            # Sockets, then every widget as an input slot too: the frontend's uncompressed form, which
            # it loads like the compressed one and which names each widget, so a renamed input shows.
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
        self.groups.append({"id": len(self.groups) + 1, "title": title,
                            "bounding": [left, top, right - left, bottom - top],
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
    if sig.ours:
        return 340, height
    return (240 if not sig.widgets and height < 100 else 300), height


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


def labelmask_inpaint(g: Graph) -> None:
    """LabelMask → Grow → inpaint"""
    g.note((0, 0), (
        "## Mask by label, then inpaint\n\n"
        "1. **Load Image**: your photo. **Load Checkpoint**: an *inpainting* checkpoint "
        "(e.g. `512-inpainting-ema.safetensors` in `models/checkpoints`).\n"
        "2. **Label Mask** finds the labelled objects (`sofa`; several as `sofa|rug`). *pick labels* opens the list "
        "of the 150 labels. Its model is downloaded on first use (README: Models and weights).\n"
        "3. **Grow / Invert Mask** fills holes and grows the mask so the new content blends in.\n"
        "4. **VAE Encode (for Inpainting)** + **KSampler** repaint the masked area from the prompts; "
        "the mask is previewed on the right.\n"
    ), size=(420, 300))
    checkpoint = g.node("CheckpointLoaderSimple", (0, 340), ckpt_name="512-inpainting-ema.safetensors")
    image = g.node("LoadImage", (0, 500), image="example.png")
    labels = g.node("MaskForgeLabelMask", (360, 500), labels="sofa")
    grow = g.node("MaskForgeGrowInvertMask", (760, 500), fill_holes=True, min_region_px=64, grow=16)
    positive = g.node("CLIPTextEncode", (460, 0), size=(400, 200),
                      text="an empty living room, bare wall, wooden floor, natural light, photo")
    negative = g.node("CLIPTextEncode", (460, 240), size=(400, 200),
                      text="sofa, couch, furniture, blurry, low quality")
    encode = g.node("VAEEncodeForInpaint", (1160, 500))
    sampler = g.node("KSampler", (1160, 60), steps=25, cfg=7.0, sampler_name="euler", scheduler="normal")
    decode = g.node("VAEDecode", (1540, 60))
    save = g.node("SaveImage", (1540, 180), filename_prefix="labelmask_inpaint")
    show = g.node("MaskToImage", (1160, 700))
    preview = g.node("PreviewImage", (1540, 560), title="Preview mask")
    g.link(image, "IMAGE", labels, "image")
    g.link(labels, "mask", grow, "mask")
    g.link(checkpoint, "CLIP", positive, "clip")
    g.link(checkpoint, "CLIP", negative, "clip")
    g.link(image, "IMAGE", encode, "pixels")
    g.link(checkpoint, "VAE", encode, "vae")
    g.link(grow, "mask", encode, "mask")
    g.link(checkpoint, "MODEL", sampler, "model")
    g.link(positive, "CONDITIONING", sampler, "positive")
    g.link(negative, "CONDITIONING", sampler, "negative")
    g.link(encode, "LATENT", sampler, "latent_image")
    g.link(sampler, "LATENT", decode, "samples")
    g.link(checkpoint, "VAE", decode, "vae")
    g.link(decode, "IMAGE", save, "images")
    g.link(grow, "mask", show, "mask")
    g.link(show, "IMAGE", preview, "images")


def promptmask_per_object(g: Graph) -> None:
    """PromptMask, one mask per object"""
    g.note((0, 0), (
        "## Mask what you name, object by object\n\n"
        "1. **Load Image**: your photo.\n"
        "2. **Prompt Mask**: write the objects as phrases ending in a full stop (`sofa. lamp.`). Grounding DINO "
        "finds a box per object, SAM 2.1 outlines each. Both models are downloaded on first use (README: Models "
        "and weights).\n"
        "3. `per_object` is a batch with **one mask per object**, in the order of `objects_json`; `mask` is all "
        "of them together. `preview` draws the boxes and masks.\n"
    ), size=(420, 300))
    image = g.node("LoadImage", (0, 340), image="example.png")
    prompt = g.node("MaskForgePromptMask", (360, 0), prompt="sofa. lamp.")
    preview = g.node("PreviewImage", (800, 0), title="Preview boxes and masks")
    show = g.node("MaskToImage", (800, 400))
    objects = g.node("PreviewImage", (1100, 360), title="One mask per object")
    g.link(image, "IMAGE", prompt, "image")
    g.link(prompt, "preview", preview, "images")
    g.link(prompt, "per_object", show, "mask")
    g.link(show, "IMAGE", objects, "images")


def removebg_replace_background(g: Graph) -> None:
    """RemoveBGMask, new background"""
    g.note((0, 0), (
        "## Put the subject on a new background\n\n"
        "1. **photo**: the picture with the subject; **new background**: the picture to put behind it, best the "
        "same size as the photo (the result takes the background's size; x and y move the subject).\n"
        "2. **Remove Background Mask** finds the subject (rembg models, downloaded on first use; README: Models "
        "and weights). Alpha matting helps with hair.\n"
        "3. **Image Composite Masked** pastes the photo onto the background where `subject_mask` is set.\n\n"
        "To paint a new background instead, inpaint `background_mask`."
    ), size=(420, 320))
    photo = g.node("LoadImage", (0, 360), title="photo", image="example.png")
    background = g.node("LoadImage", (0, 760), title="new background", image="example.png")
    remove = g.node("MaskForgeRemoveBGMask", (360, 360))
    composite = g.node("ImageCompositeMasked", (800, 560))
    save = g.node("SaveImage", (1140, 360), filename_prefix="new_background")
    cutout = g.node("PreviewImage", (800, 60), title="Preview cut-out")
    g.link(photo, "IMAGE", remove, "image")
    g.link(background, "IMAGE", composite, "destination")
    g.link(photo, "IMAGE", composite, "source")
    g.link(remove, "subject_mask", composite, "mask")
    g.link(composite, "IMAGE", save, "images")
    g.link(remove, "cutout", cutout, "images")


def labelmask_local_or_remote(g: Graph) -> None:
    """LabelMask, local or remote"""
    g.note((0, 0), (
        "## The same mask, made here or by HomeDesigns\n\n"
        "**Label Mask** runs on your machine; **HomeDesigns Create Mask** sends the image to HomeDesigns' "
        "service (API key in the environment, see README: Remote services; each image is charged). Both take the "
        "same labels.\n\n"
        "**To switch, mute one** (select it, Ctrl+M): the **Switch** passes whichever still runs. The remote node "
        "starts muted. With both running, the Switch's `switch` chooses (false = local, true = remote) and only "
        "the chosen one runs.\n"
    ), size=(420, 320))
    image = g.node("LoadImage", (0, 360), image="example.png")
    local = g.node("MaskForgeLabelMask", (480, 80), labels="sofa")
    remote = g.node("MaskForgeHomeDesignsCreateMask", (480, 460), mode=MUTED, labels="sofa")
    switch = g.node("ComfySwitchNode", (900, 300), size=(220, 100))
    grow = g.node("MaskForgeGrowInvertMask", (1160, 300), fill_holes=True, min_region_px=64, grow=8)
    show = g.node("MaskToImage", (1540, 300))
    preview = g.node("PreviewImage", (1820, 300), title="Preview mask")
    g.link(image, "IMAGE", local, "image")
    g.link(image, "IMAGE", remote, "image")
    g.link(local, "mask", switch, "on_false")
    g.link(remote, "mask", switch, "on_true")
    g.link(switch, "output", grow, "mask")
    g.link(grow, "mask", show, "mask")
    g.link(show, "IMAGE", preview, "images")
    g.group("Local", [local], "#3f789e")
    g.group("Remote (muted: Ctrl+M to use it)", [remote], "#a1309b")


def video_track_inpaint(g: Graph) -> None:
    """Video: PromptMask → TrackMask → inpaint"""
    g.note((0, 0), (
        "## Follow objects through a video, then inpaint them\n\n"
        "1. **Load Video**: your clip (ComfyUI 0.3.64 or newer). **Get Video Components** gives its frames, sound "
        "and frame rate.\n"
        "2. **Prompt Mask** finds the objects on the **first frame** (ImageFromBatch picks it): write them as "
        "phrases (`person.`).\n"
        "3. **Track Mask** follows each of those objects through every frame with SAM 2.1's memory, also while "
        "it turns or leaves the picture for a while. Its preview shows each object's number.\n"
        "4. **Grow / Invert Mask** fills holes and grows the masks so the new content blends in.\n"
        "5. **VAE Encode (for Inpainting)** + **KSampler** repaint the masked area of every frame; **Create "
        "Video** + **Save Video** write the clip with its sound to `output/video/`.\n\n"
        "An image inpainting checkpoint repaints each frame on its own, so the new content can shimmer from frame "
        "to frame; for steady results use a video inpainting model in place of steps 5. Long clips: every frame "
        "is sampled in one batch, so load a short clip (or fewer frames) first."
    ), size=(440, 460))
    video = g.node("LoadVideo", (0, 500), size=(300, 330), file="example.mp4")
    parts = g.node("GetVideoComponents", (0, 880))
    first = g.node("ImageFromBatch", (360, 40), batch_index=0, length=1)
    prompt = g.node("MaskForgePromptMask", (360, 200), prompt="person.")
    track = g.node("MaskForgeTrackMask", (780, 200), key_frame=0, direction="forward")
    grow = g.node("MaskForgeGrowInvertMask", (1180, 200), fill_holes=True, grow=12)
    preview = g.node("PreviewImage", (1180, 640), title="Preview tracked objects")
    checkpoint = g.node("CheckpointLoaderSimple", (1180, -200), ckpt_name="512-inpainting-ema.safetensors")
    positive = g.node("CLIPTextEncode", (1560, -420), size=(400, 200),
                      text="empty street, pavement, background, natural light, photo")
    negative = g.node("CLIPTextEncode", (1560, -180), size=(400, 200), text="person, people, blurry, low quality")
    encode = g.node("VAEEncodeForInpaint", (1560, 200))
    sampler = g.node("KSampler", (1960, -200), steps=25, cfg=7.0, sampler_name="euler", scheduler="normal")
    decode = g.node("VAEDecode", (2340, -200))
    create = g.node("CreateVideo", (2340, -60))
    save = g.node("SaveVideo", (2660, -60), filename_prefix="video/tracked_inpaint")
    g.link(video, "VIDEO", parts, "video")
    g.link(parts, "images", first, "image")
    g.link(first, "IMAGE", prompt, "image")
    g.link(parts, "images", track, "images")
    g.link(prompt, "per_object", track, "initial_mask")
    g.link(track, "mask", grow, "mask")
    g.link(track, "preview", preview, "images")
    g.link(checkpoint, "CLIP", positive, "clip")
    g.link(checkpoint, "CLIP", negative, "clip")
    g.link(parts, "images", encode, "pixels")
    g.link(checkpoint, "VAE", encode, "vae")
    g.link(grow, "mask", encode, "mask")
    g.link(checkpoint, "MODEL", sampler, "model")
    g.link(positive, "CONDITIONING", sampler, "positive")
    g.link(negative, "CONDITIONING", sampler, "negative")
    g.link(encode, "LATENT", sampler, "latent_image")
    g.link(sampler, "LATENT", decode, "samples")
    g.link(checkpoint, "VAE", decode, "vae")
    g.link(decode, "IMAGE", create, "images")
    g.link(parts, "fps", create, "fps")
    g.link(parts, "audio", create, "audio")
    g.link(create, "VIDEO", save, "video")


WORKFLOWS = {
    "labelmask_inpaint": labelmask_inpaint,
    "promptmask_per_object": promptmask_per_object,
    "removebg_replace_background": removebg_replace_background,
    "blue_mask_for_removal_service": blue_mask_for_removal_service,
    "labelmask_local_or_remote": labelmask_local_or_remote,
    "video_track_inpaint": video_track_inpaint,
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
        except MissingNode as missing:
            print(f"skipped {name}: node {missing} is not registered")
            continue
        path = FOLDER / f"{name}.json"
        path.write_text(json.dumps(workflow, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {Path(path).relative_to(PACK_DIR)}")


if __name__ == "__main__":
    main()
