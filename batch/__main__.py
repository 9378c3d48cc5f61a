"""``python -m batch``: imports the pack by the path of its folder, as ComfyUI does (its modules import
each other relatively, whatever the folder is called), then runs the command."""

import sys

from tools.pack import load_pack

load_pack()
from maskforge.batch.cli import main  # noqa: E402  (importable once the pack is loaded)

sys.exit(main())
