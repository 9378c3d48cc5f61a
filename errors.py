"""The one error type for failures a user can fix."""


class MaskForgeError(ValueError):
    """Raised with the node, the input at fault and what to do.

    ComfyUI shows the message in its error dialog, so it must stand on its own:
    ``LabelMask: labels: unknown label 'sofas' — did you mean 'sofa'?``
    """

    def __init__(self, node: str, message: str, input_name: str | None = None):
        self.node = node
        self.message = message
        self.input_name = input_name
        where = f"{node}: {input_name}: " if input_name else f"{node}: "
        super().__init__(where + message)

    def __reduce__(self):  # pickled through a function of this module: the class's module name is a stand-in
        return _rebuild, (self.node, self.message, self.input_name)


def _rebuild(node: str, message: str, input_name: str | None) -> MaskForgeError:
    return MaskForgeError(node, message, input_name)


# ComfyUI (0.3.64 and current core alike) shows an error's type as ``module.qualname``, or the bare name for
# builtins; the pack's module is named after the folder it was loaded from, so the dialog would read
# "/home/…/custom_nodes/MaskForge.errors.MaskForgeError". The class still is a ValueError.
MaskForgeError.__module__ = "builtins"
