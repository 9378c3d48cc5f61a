"""MaskForge: inpainting masks for ComfyUI (local models, hosted services, mask tools)."""

from .models.weights import register_folders
from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

register_folders()  # ComfyUI's model folders for the pack's kinds; cheap, no network

WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
