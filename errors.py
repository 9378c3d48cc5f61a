"""The one error type for failures a user can fix."""


class MaskForgeError(ValueError):
    """Raised with the node, the input at fault and what to do.

    ComfyUI shows the message in its error dialog, so it must stand on its own:
    ``LabelMask: labels: unknown label 'sofas' — did you mean 'sofa'?``
    """

    def __init__(self, node: str, message: str, input_name: str | None = None):
        self.node = node
        self.input_name = input_name
        where = f"{node}: {input_name}: " if input_name else f"{node}: "
        super().__init__(where + message)
