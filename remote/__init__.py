"""Clients for the hosted mask services in ``shared/reference``: keys, HTTP with retries, image transport.

No ComfyUI imports here (the nodes in ``nodes/remote_nodes.py`` wrap these); one module per service
holds that service's request and response shapes.
"""
