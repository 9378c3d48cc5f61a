"""Every model the pack can download: where it comes from, its checksum, licence and folder."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelFile:
    path: str  # where it lands, relative to the model's location (a directory for hub models)
    sha256: str | None = None  # None only where the source publishes no fixed file
    size: int | None = None  # bytes, for the offline message and the README
    url: str | None = None  # direct download; hub files are fetched by repo + revision instead
    md5: str | None = None  # checked where the source publishes only an MD5 (rembg's releases) and sha256 is None


@dataclass(frozen=True)
class ModelSpec:
    name: str  # shown in dropdowns; also the folder (hub models) or file name under `folder`
    family: str  # backend that loads it: segformer, mask2former, grounding-dino, sam, sam2, rembg
    folder: str  # ComfyUI models sub-folder: sams, sam2, grounding-dino, rembg or maskforge
    files: tuple[ModelFile, ...]
    licence: str
    commercial: bool  # False marks non-commercial or gated models in dropdowns and the README
    repo: str | None = None  # hub repo id
    revision: str | None = None  # pinned hub commit
    description: str = ""


REGISTRY: dict[str, ModelSpec] = {}


def register(*specs: ModelSpec) -> None:
    for spec in specs:
        REGISTRY[spec.name] = spec


def specs(family: str | None = None) -> list[ModelSpec]:
    return [s for s in REGISTRY.values() if family is None or s.family == family]


# The rows. Hub repos are pinned to a commit; checksums are the files' SHA-256 as published.

# --- LabelMask (segformer, mask2former) ---

# transformers ADE20K models: a folder models/maskforge/<name>/ with these files. Revisions name
# the first safetensors version of each repo: a commit where one was found, else the hub's
# safetensors-conversion PR ref ("refs/pr/N") or "main". SHA-256s are not recorded (the hub was
# unreachable when these rows were written); sizes are the hub's, rounded.
_M2F_LICENCE = "MIT (Meta's Mask2Former repository and model zoo, once CC BY-NC 4.0; the hub cards say 'other')"
_SEGFORMER_LICENCE = "NVIDIA Source Code License for SegFormer: non-commercial use only"


def _ade_model(name: str, repo: str, revision: str, size: int | None, description: str) -> ModelSpec:
    family = name.split("-")[0]
    files = (ModelFile("config.json"), ModelFile("preprocessor_config.json"), ModelFile("model.safetensors", size=size))
    licence, commercial = (_M2F_LICENCE, True) if family == "mask2former" else (_SEGFORMER_LICENCE, False)
    return ModelSpec(name, family, "maskforge", files, licence, commercial, repo=repo, revision=revision,
                     description=description)


register(
    _ade_model("mask2former-swin-tiny-ade-semantic", "facebook/mask2former-swin-tiny-ade-semantic", "refs/pr/2",
               190_000_000, "Mask2Former, Swin-T (47 M parameters), ADE20K mIoU 47.7. The CPU default."),
    _ade_model("mask2former-swin-small-ade-semantic", "facebook/mask2former-swin-small-ade-semantic", "refs/pr/2",
               276_000_000, "Mask2Former, Swin-S (69 M parameters), ADE20K mIoU 51.3."),
    _ade_model("mask2former-swin-base-ade-semantic", "facebook/mask2former-swin-base-ade-semantic", "main",
               432_000_000, "Mask2Former, Swin-B (107 M parameters)."),
    _ade_model("mask2former-swin-large-ade-semantic", "facebook/mask2former-swin-large-ade-semantic",
               "aa25c92404a40599614215e76514c79b427c7527", 866_000_000,
               "Mask2Former, Swin-L (215 M parameters), ADE20K mIoU 56.1: the most accurate; for GPUs."),
    _ade_model("segformer-b0-finetuned-ade-512-512", "nvidia/segformer-b0-finetuned-ade-512-512", "main",
               15_000_000, "SegFormer-B0 (3.8 M parameters), ADE20K mIoU 37.4: the quickest, rough. Non-commercial."),
    _ade_model("segformer-b1-finetuned-ade-512-512", "nvidia/segformer-b1-finetuned-ade-512-512", "refs/pr/2",
               None, "SegFormer-B1 (13.7 M parameters), ADE20K mIoU 42.2. Non-commercial."),
    _ade_model("segformer-b2-finetuned-ade-512-512", "nvidia/segformer-b2-finetuned-ade-512-512", "refs/pr/2",
               110_000_000, "SegFormer-B2 (27.5 M parameters), ADE20K mIoU 46.5. Non-commercial."),
    _ade_model("segformer-b4-finetuned-ade-512-512", "nvidia/segformer-b4-finetuned-ade-512-512", "refs/pr/3",
               None, "SegFormer-B4 (64.1 M parameters), ADE20K mIoU 50.3. Non-commercial."),
    _ade_model("segformer-b5-finetuned-ade-640-640", "nvidia/segformer-b5-finetuned-ade-640-640", "refs/pr/3",
               339_000_000, "SegFormer-B5 (84.7 M parameters), ADE20K mIoU 51.0, trained at 640 px. Non-commercial."),
)

# --- PromptMask (grounding-dino, sam, sam2) ---

# Hub rows list only the files the loaders read. Revisions: pinned where a commit was found;
# "main" where none was (see the README). SAM and SAM 2.1 need no processor files: the pack does
# their pre- and post-processing itself.
_GDINO_FILES = ("config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt")


def _hub(name: str, family: str, folder: str, repo: str, revision: str, description: str,
         extra: tuple[str, ...] = ("config.json",), weights: ModelFile | None = None) -> ModelSpec:
    files = tuple(ModelFile(f) for f in extra) + (weights or ModelFile("model.safetensors"),)
    return ModelSpec(name, family, folder, files, "Apache-2.0", True, repo=repo, revision=revision,
                     description=description)


def _meta_sam(name: str, sha256: str, size: int, description: str) -> ModelSpec:
    file = ModelFile(name, sha256=sha256, size=size, url=f"https://dl.fbaipublicfiles.com/segment_anything/{name}")
    return ModelSpec(name, "sam", "sams", (file,), "Apache-2.0", True, description=description)


register(
    _hub("grounding-dino-tiny", "grounding-dino", "grounding-dino", "IDEA-Research/grounding-dino-tiny",
         "a2bb814dd30d776dcf7e30523b00659f4f141c71", "Grounding DINO, Swin-T backbone (172 M parameters).",
         _GDINO_FILES, ModelFile("model.safetensors", size=689_359_096,
                                 sha256="1a2412ef99bd74bcd3c2a246fa1e48581f8889a1300c9051974741314fc042f3")),
    _hub("grounding-dino-base", "grounding-dino", "grounding-dino", "IDEA-Research/grounding-dino-base", "main",
         "Grounding DINO, Swin-B backbone (233 M parameters); more accurate, slower.", _GDINO_FILES),
    _hub("sam2.1-hiera-tiny", "sam2", "sam2", "facebook/sam2.1-hiera-tiny", "main",
         "SAM 2.1, Hiera-T image encoder (39 M parameters); the quickest."),
    _hub("sam2.1-hiera-small", "sam2", "sam2", "facebook/sam2.1-hiera-small", "main",
         "SAM 2.1, Hiera-S image encoder (46 M parameters)."),
    _hub("sam2.1-hiera-base-plus", "sam2", "sam2", "facebook/sam2.1-hiera-base-plus", "main",
         "SAM 2.1, Hiera-B+ image encoder (81 M parameters)."),
    _hub("sam2.1-hiera-large", "sam2", "sam2", "facebook/sam2.1-hiera-large",
         "665f8e2ad61cf5f53d65644ff27c8ee525124610", "SAM 2.1, Hiera-L image encoder (224 M parameters); the most accurate."),
    _hub("sam-vit-base", "sam", "sams", "facebook/sam-vit-base", "70c1a07f894ebb5b307fd9eaaee97b9dfc16068f",
         "SAM ViT-B (91 M parameters)."),
    _hub("sam-vit-large", "sam", "sams", "facebook/sam-vit-large", "main", "SAM ViT-L (308 M parameters)."),
    _hub("sam-vit-huge", "sam", "sams", "facebook/sam-vit-huge", "main", "SAM ViT-H (636 M parameters)."),
    _meta_sam("sam_vit_b_01ec64.pth", "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912", 375_042_383,
              "SAM ViT-B, Meta's original file (converted on load)."),
    _meta_sam("sam_vit_l_0b3195.pth", "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622", 1_249_524_607,
              "SAM ViT-L, Meta's original file (converted on load)."),
    _meta_sam("sam_vit_h_4b8939.pth", "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e", 2_564_550_879,
              "SAM ViT-H, Meta's original file (converted on load)."),
)

# --- RemoveBGMask (rembg) ---

# rembg's own release files, saved under rembg's names (``<session>.onnx``), so a copy from
# ~/.u2net or ~/.rembg/models/<name>/ can be dropped into models/rembg as it is. rembg publishes
# MD5s (SHA-256 only for RMBG-2.0). u2net_cloth_seg (3 garment classes) and sam (needs prompts)
# are left out: they do not give one subject mask.
_REMBG_RELEASE = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/"


def _rembg(name: str, source: str, licence: str, description: str, *, md5: str | None = None,
           sha256: str | None = None, commercial: bool = True) -> ModelSpec:
    file = ModelFile(f"{name}.onnx", sha256=sha256, md5=md5, url=_REMBG_RELEASE + source)
    return ModelSpec(f"{name}.onnx", "rembg", "rembg", (file,), licence, commercial, description=description)


_APACHE_U2NET = "Apache-2.0 (U-2-Net)"
_MIT_BIREFNET = "MIT (BiRefNet)"
register(
    _rembg("u2net", "u2net.onnx", _APACHE_U2NET, "U²-Net, general objects; 320 px, fast on CPU. The default.",
           md5="60024c5c889badc19c04ad937298a77b"),
    _rembg("u2netp", "u2netp.onnx", _APACHE_U2NET, "U²-Net small (4.7 MB); quickest, rougher edges.",
           md5="8e83ca70e441ab06c318d82300c84806"),
    _rembg("u2net_human_seg", "u2net_human_seg.onnx", _APACHE_U2NET, "U²-Net trained for people.",
           md5="c09ddc2e0104f800e3e1bb4652583d1f"),
    _rembg("silueta", "silueta.onnx", "unclear: a reduced U²-Net (43 MB) shipped with rembg, no licence of its own",
           "U²-Net reduced to 43 MB.", md5="55e59e0d8062d2f5d013f4725ee84782", commercial=False),
    _rembg("isnet-general-use", "isnet-general-use.onnx", "Apache-2.0 (DIS / ISNet)",
           "ISNet (DIS), general objects; 1024 px, finer edges than U²-Net.", md5="fc16ebd8b0c10d971d3513d564d01e29"),
    _rembg("isnet-anime", "isnet-anime.onnx", "Apache-2.0 (anime-segmentation)", "ISNet for anime characters.",
           md5="6f184e756bb3bd901c8849220a83e38e"),
    _rembg("birefnet-general", "BiRefNet-general-epoch_244.onnx", _MIT_BIREFNET,
           "BiRefNet, general objects; 1024 px, best edges, slow on CPU.", md5="7a35a0141cbbc80de11d9c9a28f52697"),
    _rembg("birefnet-general-lite", "BiRefNet-general-bb_swin_v1_tiny-epoch_232.onnx", _MIT_BIREFNET,
           "BiRefNet with a Swin-Tiny backbone; faster.", md5="4fab47adc4ff364be1713e97b7e66334"),
    _rembg("birefnet-portrait", "BiRefNet-portrait-epoch_150.onnx", _MIT_BIREFNET, "BiRefNet for portraits.",
           md5="c3a64a6abf20250d090cd055f12a3b67"),
    _rembg("birefnet-dis", "BiRefNet-DIS-epoch_590.onnx", _MIT_BIREFNET, "BiRefNet trained on DIS5K (fine structures).",
           md5="2d4d44102b446f33a4ebb2e56c051f2b"),
    _rembg("birefnet-hrsod", "BiRefNet-HRSOD_DHU-epoch_115.onnx", _MIT_BIREFNET,
           "BiRefNet for high-resolution salient objects.", md5="c017ade5de8a50ff0fd74d790d268dda"),
    _rembg("birefnet-cod", "BiRefNet-COD-epoch_125.onnx", _MIT_BIREFNET, "BiRefNet for camouflaged objects.",
           md5="f6d0d21ca89d287f17e7afe9f5fd3b45"),
    _rembg("birefnet-massive", "BiRefNet-massive-TR_DIS5K_TR_TEs-epoch_420.onnx", _MIT_BIREFNET,
           "BiRefNet trained on a large mixed data set.", md5="33e726a2136a3d59eb0fdf613e31e3e9"),
    _rembg("bria-rmbg", "bria-rmbg-2.0.onnx", "CC BY-NC 4.0 (BRIA RMBG-2.0): non-commercial use only",
           "BRIA RMBG-2.0; 1024 px. Non-commercial.",
           sha256="5b486f08200f513f460da46dd701db5fbb47d79b4be4b708a19444bcd4e79958", commercial=False),
)
