import socket

import pytest

from tools.pack import load_pack

pytest_plugins = ["tests.fake_comfyui", "tests.remote_standin", "tests.file_server", "tests.pack_root"]  # fixtures, collection

# Every test sees the pack as `maskforge`, loaded by path as ComfyUI loads it.
load_pack()


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Tests talk to nothing but 127.0.0.1."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("/"):
            raise OSError(f"test tried to reach {host}: no network in tests")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """An empty models folder for the adapter's outside-ComfyUI fallback."""
    path = tmp_path / "models"
    path.mkdir()
    monkeypatch.setenv("MASKFORGE_MODELS_DIR", str(path))
    return path
