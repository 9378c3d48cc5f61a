"""Thin node classes; each module exports its own mappings, merged here."""

from . import (blue_nodes, label_mask, mask_nodes, prompt_mask, remote_nodes, removebg_mask, sam3_objects, steady_mask,
               track_mask)

_MODULES = (mask_nodes, blue_nodes, remote_nodes, removebg_mask, prompt_mask, sam3_objects, label_mask, track_mask,
            steady_mask)

NODE_CLASS_MAPPINGS = {k: v for m in _MODULES for k, v in m.NODE_CLASS_MAPPINGS.items()}
NODE_DISPLAY_NAME_MAPPINGS = {k: v for m in _MODULES for k, v in m.NODE_DISPLAY_NAME_MAPPINGS.items()}
