"""Model backends: loading and inference, with no ComfyUI imports (those go through comfy_adapter)."""
