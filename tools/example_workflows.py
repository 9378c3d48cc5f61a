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
from typing import Callable, NamedTuple

from tools.pack import PACK_DIR
from tools.workflow_schema import ACTIVE, CURRENT, MUTED, OLDEST, Signature, check_workflow, signatures

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


def inpaint(g: Graph, x: int, y: int, pixels: tuple[dict, str], mask: tuple[dict, str], positive: str,
            negative: str) -> dict:
    """Core's inpainting steps from (x, y) rightwards: an inpainting checkpoint, the two prompts, VAE Encode
    (for Inpainting) of ``pixels`` under ``mask``, KSampler and VAE Decode, which is returned."""
    checkpoint = g.node("CheckpointLoaderSimple", (x, y), ckpt_name="512-inpainting-ema.safetensors")
    good = g.node("CLIPTextEncode", (x + 360, y), size=(400, 200), text=positive)
    bad = g.node("CLIPTextEncode", (x + 360, y + 240), size=(400, 200), text=negative)
    encode = g.node("VAEEncodeForInpaint", (x + 800, y + 300))
    sampler = g.node("KSampler", (x + 800, y), steps=25, cfg=7.0, sampler_name="euler", scheduler="normal")
    decode = g.node("VAEDecode", (x + 1180, y))
    g.link(checkpoint, "CLIP", good, "clip")
    g.link(checkpoint, "CLIP", bad, "clip")
    g.link(*pixels, encode, "pixels")
    g.link(checkpoint, "VAE", encode, "vae")
    g.link(*mask, encode, "mask")
    g.link(checkpoint, "MODEL", sampler, "model")
    g.link(good, "CONDITIONING", sampler, "positive")
    g.link(bad, "CONDITIONING", sampler, "negative")
    g.link(encode, "LATENT", sampler, "latent_image")
    g.link(sampler, "LATENT", decode, "samples")
    g.link(checkpoint, "VAE", decode, "vae")
    return decode


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
    image = g.node("LoadImage", (0, 340), image="example.png")
    labels = g.node("MaskForgeLabelMask", (360, 340), labels="sofa")
    grow = g.node("MaskForgeGrowInvertMask", (760, 340), fill_holes=True, min_region_px=64, grow=16)
    decode = inpaint(g, 1160, 0, (image, "IMAGE"), (grow, "mask"),
                     "an empty living room, bare wall, wooden floor, natural light, photo",
                     "sofa, couch, furniture, blurry, low quality")
    save = g.node("SaveImage", (2340, 140), filename_prefix="labelmask_inpaint")
    show = g.node("MaskToImage", (1160, 640))
    preview = g.node("PreviewImage", (1540, 640), title="Preview mask")
    g.link(image, "IMAGE", labels, "image")
    g.link(labels, "mask", grow, "mask")
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
        "The **If/Else Switch** chooses: `switch` false = Label Mask, true = HomeDesigns; only the chosen one runs. "
        "The remote node starts muted: unmute it (select it, Ctrl+M) before you set `switch` to true.\n\n"
        "**Needs ComfyUI 0.4 or newer**: the Switch is a core node that older versions, such as 0.3.64, lack "
        "(they open this workflow with a missing-node warning). There, connect one mask to Grow / Invert Mask "
        "directly.\n"
    ), size=(420, 360))
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


class Workflow(NamedTuple):
    build: Callable[[Graph], None]  # its docstring is the workflow's title
    needs: str = OLDEST  # the oldest ComfyUI it works on, as the README's workflow table says

    @property
    def core(self) -> str:
        """The ComfyUI version whose recorded core signatures it is built and checked against."""
        return OLDEST if self.needs == OLDEST else CURRENT


def sam3_objects_inpaint(g: Graph) -> None:
    """SAM 3 → SAM 3 Objects → inpaint"""
    g.note((0, 0), (
        "## ComfyUI's SAM 3, cleaned up and inpainted\n\n"
        "Needs ComfyUI 0.45 or newer (core's SAM 3 nodes).\n\n"
        "1. **Load SAM 3**: the SAM 3 checkpoint of ComfyUI's own SAM 3 template (in `models/checkpoints`); "
        "**CLIP Text Encode** says what to find (`sofa`).\n"
        "2. **SAM3 Detect** with `individual_masks` on gives one mask per object and the boxes, image by image.\n"
        "3. **SAM 3 Objects** (MaskForge) regroups them per image: the mask of all objects, one mask per object, "
        "the objects as JSON, a preview and the cut-out.\n"
        "4. **Grow / Invert Mask** fills holes and grows the mask; then an *inpainting* checkpoint repaints it.\n"
    ), size=(420, 360))
    sam3 = g.node("CheckpointLoaderSimple", (0, 400), title="Load SAM 3", ckpt_name="sam3.safetensors")
    image = g.node("LoadImage", (0, 560), image="example.png")
    find = g.node("CLIPTextEncode", (360, 400), size=(300, 120), text="sofa")
    detect = g.node("SAM3_Detect", (700, 400), individual_masks=True)
    objects = g.node("MaskForgeSAM3Objects", (1060, 400))
    grow = g.node("MaskForgeGrowInvertMask", (1460, 400), fill_holes=True, min_region_px=64, grow=16)
    preview = g.node("PreviewImage", (1460, 760), title="Preview objects")
    decode = inpaint(g, 1860, 0, (image, "IMAGE"), (grow, "mask"),
                     "an empty living room, bare wall, wooden floor, natural light, photo",
                     "sofa, couch, furniture, blurry, low quality")
    save = g.node("SaveImage", (3040, 140), filename_prefix="sam3_inpaint")
    g.link(sam3, "CLIP", find, "clip")
    g.link(sam3, "MODEL", detect, "model")
    g.link(image, "IMAGE", detect, "image")
    g.link(find, "CONDITIONING", detect, "conditioning")
    g.link(image, "IMAGE", objects, "image")
    g.link(detect, "masks", objects, "masks")
    g.link(detect, "bboxes", objects, "bboxes")
    g.link(objects, "mask", grow, "mask")
    g.link(objects, "preview", preview, "images")
    g.link(decode, "IMAGE", save, "images")


def removebg_core_model_background(g: Graph) -> None:
    """Core background-removal model → RemoveBGMask"""
    g.note((0, 0), (
        "## ComfyUI's background-removal model, MaskForge's masks\n\n"
        "Needs ComfyUI 0.45 or newer (core's Load Background Removal Model).\n\n"
        "1. **Load Background Removal Model**: a BiRefNet file in `models/background_removal`.\n"
        "2. **Remove Background Mask** takes it on `bg_removal_model` (then its own ONNX `model` is not used) and "
        "adds what core's Remove Background lacks: post-processing, alpha matting for hair, the background mask "
        "and the cut-out. `resolution` 0 = the model's own size.\n"
        "3. **Image Composite Masked** puts the subject on **new background** (best the photo's size).\n"
    ), size=(420, 340))
    loader = g.node("LoadBackgroundRemovalModel", (0, 380), bg_removal_name="birefnet.safetensors")
    photo = g.node("LoadImage", (0, 500), title="photo", image="example.png")
    background = g.node("LoadImage", (0, 900), title="new background", image="example.png")
    remove = g.node("MaskForgeRemoveBGMask", (400, 380), alpha_matting=True)
    composite = g.node("ImageCompositeMasked", (840, 560))
    save = g.node("SaveImage", (1180, 380), filename_prefix="new_background")
    cutout = g.node("PreviewImage", (840, 60), title="Preview cut-out")
    g.link(loader, "bg_model", remove, "bg_removal_model")
    g.link(photo, "IMAGE", remove, "image")
    g.link(background, "IMAGE", composite, "destination")
    g.link(photo, "IMAGE", composite, "source")
    g.link(remove, "subject_mask", composite, "mask")
    g.link(composite, "IMAGE", save, "images")
    g.link(remove, "cutout", cutout, "images")


def rtdetr_promptmask(g: Graph) -> None:
    """RT-DETR boxes → PromptMask outlines"""
    g.note((0, 0), (
        "## Core's RT-DETR finds, SAM 2.1 outlines\n\n"
        "Needs ComfyUI 0.45 or newer (core's RT-DETR Detect).\n\n"
        "1. **Load RT-DETR**: the RT-DETR model of ComfyUI's own RT-DETR template (if the template loads it with "
        "another loader node, use that one). **RT-DETR Detect** finds COCO objects (`class_name`: `couch`).\n"
        "2. **Prompt Mask** takes its `bboxes`: detection is skipped and the prompt is not used; SAM 2.1 outlines "
        "each box (downloaded on first use). Each box's score and label go into `objects_json`.\n"
        "3. Its own `bboxes` output feeds **Draw BBoxes**.\n"
    ), size=(420, 340))
    model = g.node("UNETLoader", (0, 380), title="Load RT-DETR", unet_name="rtdetr_v4.safetensors")
    image = g.node("LoadImage", (0, 540), image="example.png")
    detect = g.node("RTDETR_detect", (360, 380), class_name="couch")
    prompt = g.node("MaskForgePromptMask", (720, 380), prompt="")
    preview = g.node("PreviewImage", (1160, 380), title="Preview masks")
    draw = g.node("DrawBBoxes", (1160, 760))
    boxes = g.node("PreviewImage", (1480, 760), title="Preview boxes")
    g.link(model, "MODEL", detect, "model")
    g.link(image, "IMAGE", detect, "image")
    g.link(image, "IMAGE", prompt, "image")
    g.link(detect, "bboxes", prompt, "bboxes")
    g.link(prompt, "preview", preview, "images")
    g.link(image, "IMAGE", draw, "image")
    g.link(prompt, "bboxes", draw, "bboxes")
    g.link(draw, "image", boxes, "images")


def promptmask_crop_by_bboxes(g: Graph) -> None:
    """PromptMask → Crop by BBoxes"""
    g.note((0, 0), (
        "## Crop what you name\n\n"
        "Needs ComfyUI 0.45 or newer (core's CropByBBoxes).\n\n"
        "1. **Prompt Mask** finds and outlines the objects (`lamp.`); its `bboxes` output holds their boxes, one "
        "list per image.\n"
        "2. **CropByBBoxes** crops each image around its boxes (all of an image's boxes together, plus `padding`) "
        "and resizes the crop to `output_width` × `output_height`: a close-up to inpaint or upscale.\n"
    ), size=(420, 300))
    image = g.node("LoadImage", (0, 340), image="example.png")
    prompt = g.node("MaskForgePromptMask", (360, 0), prompt="lamp.")
    crop = g.node("CropByBBoxes", (800, 0), padding=32)
    preview = g.node("PreviewImage", (1160, 0), title="Preview crop")
    g.link(image, "IMAGE", prompt, "image")
    g.link(image, "IMAGE", crop, "image")
    g.link(prompt, "bboxes", crop, "bboxes")
    g.link(crop, "IMAGE", preview, "images")


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
    decode = inpaint(g, 1580, 0, (parts, "images"), (grow, "mask"),
                     "empty street, pavement, background, natural light, photo", "person, people, blurry, low quality")
    create = g.node("CreateVideo", (2760, 140))
    save = g.node("SaveVideo", (3080, 140), filename_prefix="video/tracked_inpaint")
    g.link(video, "VIDEO", parts, "video")
    g.link(parts, "images", first, "image")
    g.link(first, "IMAGE", prompt, "image")
    g.link(parts, "images", track, "images")
    g.link(prompt, "per_object", track, "initial_mask")
    g.link(track, "mask", grow, "mask")
    g.link(track, "preview", preview, "images")
    g.link(decode, "IMAGE", create, "images")
    g.link(parts, "fps", create, "fps")
    g.link(parts, "audio", create, "audio")
    g.link(create, "VIDEO", save, "video")


WORKFLOWS = {
    "labelmask_inpaint": Workflow(labelmask_inpaint),
    "promptmask_per_object": Workflow(promptmask_per_object),
    "removebg_replace_background": Workflow(removebg_replace_background),
    "blue_mask_for_removal_service": Workflow(blue_mask_for_removal_service),
    "labelmask_local_or_remote": Workflow(labelmask_local_or_remote, "0.4"),  # core's Switch node
    "sam3_objects_inpaint": Workflow(sam3_objects_inpaint, CURRENT),
    "removebg_core_model_background": Workflow(removebg_core_model_background, CURRENT),
    "rtdetr_promptmask": Workflow(rtdetr_promptmask, CURRENT),
    "promptmask_crop_by_bboxes": Workflow(promptmask_crop_by_bboxes, CURRENT),
    "video_track_inpaint": Workflow(video_track_inpaint),  # core's video nodes, in 0.3.64 already
}


def build(name: str, sigs: dict[str, Signature]) -> dict:
    g = Graph(sigs)
    WORKFLOWS[name].build(g)
    workflow = g.workflow(name)
    problems = check_workflow(workflow, sigs)
    if problems:
        raise ValueError(f"{name} does not fit the nodes:\n  " + "\n  ".join(problems))
    return workflow


def main() -> None:
    FOLDER.mkdir(exist_ok=True)
    for name, spec in WORKFLOWS.items():
        try:
            workflow = build(name, signatures(spec.core))
        except MissingNode as missing:
            print(f"skipped {name}: node {missing} is not registered")
            continue
        path = FOLDER / f"{name}.json"
        path.write_text(json.dumps(workflow, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {Path(path).relative_to(PACK_DIR)}")


if __name__ == "__main__":
    main()
