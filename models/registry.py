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

# --- PromptMask (grounding-dino, sam, sam2) ---

# --- RemoveBGMask (rembg) ---
