"""The batch command: one of the pack's nodes over a folder of images, on Ray Data (docs/batch.md).

Run it from the pack's folder: ``python -m batch --help``.
"""
