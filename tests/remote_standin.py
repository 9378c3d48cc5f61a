"""A local stand-in for the hosted mask services, following the documents in shared/reference.

One HTTP server on 127.0.0.1 plays HomeDesigns (``/hd``), Segmind (``/segmind``) and ModelsLab
(``/modelslab``), validates requests as the documents describe, records every request, and serves
the result files it links to (``/files``). Tests queue scripted replies (429, 500, slow, dripping,
endless, dropped,
redirecting, malformed) in front of the documented behaviour with ``queue``.

The masks it makes are a pattern tests can check: the left half of the image set (the right half
with ``invert_mask``), drawn at a size other than the input's so the node must resize it back.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

KEYS = {"homedesigns": "hd-SECRET-key-1111", "segmind": "sg-SECRET-key-2222", "modelslab": "ml-SECRET-key-3333"}

# HomeDesigns' documented object list, spelt exactly as the document does ("bed " included).
HOMEDESIGNS_OBJECTS = {
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed ", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk",
    "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand",
    "path", "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove",
    "palm", "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
    "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver",
    "airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle",
    "buffet", "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything",
    "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven",
    "ball", "food", "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake",
    "dishwasher", "screen", "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray",
    "ashcan", "fan", "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator", "glass",
    "clock", "flag",
}

SEGMIND_RANGES = {
    "automatic-mask-generator": {"threshold": (0, 1), "grow_mask": (0, 100), "seed": (-1, 999999999999999)},
    "inpaint-mask-maker": {"confidence_thresh": (0, 1), "iou_thresh": (0, 1), "grow_mask": (0, 100)},
}
MODELSLAB_RANGES = {
    "alpha_matting_foreground_threshold": (0, 240),
    "alpha_matting_background_threshold": (0, 20),
    "alpha_matting_erode_size": (0, 5),
}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict
    body: bytes
    json: object = None
    form: dict = field(default_factory=dict)  # name → str, or (filename, content type, bytes) for files


@dataclass
class Reply:
    status: int = 200
    body: object = b""  # bytes, or anything JSON-serialisable
    headers: dict = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (the slow reply)
    drip: float = 0.0  # seconds between the bytes of the whole reply, status line and headers included
    endless: bool = False  # the body never ends: 64 KB chunks until the client hangs up
    drop: bool = False  # the connection closes once the request is read, with no reply at all


def half_mask_png(width: int, height: int, invert: bool = False) -> bytes:
    """White on the left half (the right half when inverted), black elsewhere."""
    pixels = np.zeros((height, width), np.uint8)
    pixels[:, : width // 2] = 255
    if invert:
        pixels = 255 - pixels
    out = io.BytesIO()
    Image.fromarray(pixels, "L").save(out, "PNG")
    return out.getvalue()


def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except Exception:
        return None


def parse_form(content_type: str, body: bytes) -> dict:
    msg = BytesParser(policy=email_policy).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    form = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename() is not None:
            form[name] = (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
        else:
            form[name] = part.get_payload(decode=True).decode()
    return form


class StandIn:
    def __init__(self):
        self.requests: list[Recorded] = []
        self.files: dict[str, tuple[str, bytes]] = {}  # name → (content type, bytes)
        self.scripted: dict[str, list[Reply]] = {}
        self.processing_polls = 0  # ModelsLab: how many "processing" replies before success
        self.fetch_host = None  # ModelsLab: a base URL for fetch_result other than ours
        self.streamed = 0  # bytes of endless bodies written before the client hung up
        self.fetch_delay = 0.0  # ModelsLab: seconds each fetch_result reply takes
        self.jobs: dict[int, dict] = {}  # ModelsLab: job id → polls left and the result URL
        self._lock = threading.Lock()
        self._next_id = 1000
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def queue(self, path: str, *replies: Reply):
        """Answer the next requests to ``path`` with ``replies``, in order, before the documented behaviour."""
        self.scripted.setdefault(path, []).extend(replies)

    def to(self, prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    def add_file(self, content_type: str, data: bytes) -> str:
        with self._lock:
            self._next_id += 1
            name = f"result-{self._next_id}"
        self.files[name] = (content_type, data)
        return f"{self.url}/files/{name}"

    def new_id(self) -> int:
        with self._lock:
            self._next_id += 1
            return self._next_id

    # The documented endpoints: each returns a Reply.

    def homedesigns(self, req: Recorded) -> Reply:
        if req.headers.get("authorization") != f"Bearer {KEYS['homedesigns']}":
            # Echoes what it got, as careless servers do: the client must scrub it.
            return Reply(401, {"error": f"Unauthenticated: {req.headers.get('authorization')}"})
        image = req.form.get("image")
        if image is None:
            return Reply(400, {"error": "Image field required"})
        filename, ctype, data = image
        if ctype not in ("image/png", "image/jpeg") or not filename.lower().endswith((".png", ".jpg", ".jpeg")):
            return Reply(400, {"error": "Invalid image format. Only PNG, JPEG and JPG images are allowed."})
        size = _image_size(data)
        if size is None:
            return Reply(400, {"error": "Invalid image format. Only PNG, JPEG and JPG images are allowed."})
        if size[0] < 512 or size[1] < 512:
            return Reply(400, {"error": "Invalid image size. The image width and height must be 512x512 or "
                                        "greater than 512x512 pixels."})
        labels = req.form.get("labels")
        if not labels:
            return Reply(400, {"error": "Labels are required."})
        if any(label not in HOMEDESIGNS_OBJECTS for label in labels.split("|")):
            return Reply(400, {"error": "Please enter valid labels"})
        # The mask comes back at half the input's size.
        url = self.add_file("image/png", half_mask_png(size[0] // 2, size[1] // 2))
        return Reply(200, {"success": {"masked_image": url}})

    def segmind(self, req: Recorded, endpoint: str) -> Reply:
        if req.headers.get("x-api-key") != KEYS["segmind"]:
            return Reply(401, {"error": "Unauthorized: missing or invalid API key"})
        body = req.json
        if not isinstance(body, dict):
            return Reply(400, {"error": "Invalid parameters or request format"})
        for name in ("image", "prompt"):
            if not body.get(name):
                return Reply(400, {"error": f"{name} is required"})
        for name, (low, high) in SEGMIND_RANGES[endpoint].items():
            if name in body and not low <= body[name] <= high:
                return Reply(400, {"error": f"{name} must be between {low} and {high}"})
        try:
            size = _image_size(base64.b64decode(body["image"], validate=True))
        except ValueError:
            size = None
        if size is None:
            return Reply(400, {"error": "image: not a valid URL or base64 image"})
        # The mask comes back at twice the input's size, as raw image bytes ("Returns: Image").
        return Reply(200, half_mask_png(size[0] * 2, size[1] * 2, body.get("invert_mask", False)),
                     {"Content-Type": "image/png"})

    def modelslab(self, req: Recorded) -> Reply:
        body = req.json if isinstance(req.json, dict) else {}
        if body.get("key") != KEYS["modelslab"]:
            return Reply(200, {"status": "error", "message": "Invalid API key"})
        image = body.get("image", "")
        prefix = "data:image/png;base64," if image.startswith("data:image/png") else "data:image/jpeg;base64,"
        if not image.startswith(prefix):
            return Reply(200, {"status": "error", "message": {"image": ["The image field must be a link or base64."]}})
        size = _image_size(base64.b64decode(image[len(prefix):]))
        for name, (low, high) in MODELSLAB_RANGES.items():
            if name in body and not low <= body[name] <= high:
                return Reply(200, {"status": "error", "message": f"{name} must be between {low} and {high}"})
        mask = half_mask_png(size[0], size[1], body.get("inverse_mask", False))
        url = self.add_file("image/png", mask)
        job = self.new_id()
        if self.processing_polls:
            self.jobs[job] = {"left": self.processing_polls, "url": url}
            return Reply(200, self._processing(job))
        return Reply(200, {"status": "success", "generationTime": 0.5, "id": job, "output": [url], "proxy_links": [url],
                           "meta": {}})

    def _processing(self, job: int) -> dict:
        base = self.fetch_host or self.url
        return {"status": "processing", "tip": "wait", "eta": 3, "message": "queued", "id": job,
                "fetch_result": f"{base}/modelslab/image_editing/fetch/{job}", "output": [], "future_links": []}

    def modelslab_fetch(self, req: Recorded, job: int) -> Reply:
        if not isinstance(req.json, dict) or req.json.get("key") != KEYS["modelslab"]:
            return Reply(200, {"status": "error", "message": "Invalid API key"})
        state = self.jobs[job]
        state["left"] -= 1
        if state["left"] > 0:
            return Reply(200, self._processing(job), delay=self.fetch_delay)
        return Reply(200, {"status": "success", "id": job, "output": [state["url"]], "meta": {}},
                     delay=self.fetch_delay)

    def route(self, req: Recorded) -> Reply:
        path = req.path
        scripted = self.scripted.get(path)
        if scripted:
            return scripted.pop(0)
        if req.method == "GET" and path.startswith("/files/"):
            ctype, data = self.files.get(path[len("/files/"):], ("text/plain", b"not found"))
            return Reply(200 if data != b"not found" else 404, data, {"Content-Type": ctype})
        if req.method == "POST" and path == "/hd/create_maskimage":
            return self.homedesigns(req)
        if req.method == "POST" and path.startswith("/segmind/"):
            endpoint = path[len("/segmind/"):]
            if endpoint in SEGMIND_RANGES:
                return self.segmind(req, endpoint)
        if req.method == "POST" and path == "/modelslab/image_editing/removebg_mask":
            return self.modelslab(req)
        if req.method == "POST" and path.startswith("/modelslab/image_editing/fetch/"):
            return self.modelslab_fetch(req, int(path.rsplit("/", 1)[1]))
        return Reply(404, {"error": "Model or endpoint not found"})


def _handler(standin: StandIn):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output clean
            pass

        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            req = Recorded(self.command, self.path, headers, body)
            ctype = headers.get("content-type", "")
            if ctype.startswith("application/json"):
                try:
                    req.json = json.loads(body)
                except ValueError:
                    req.json = None
            elif ctype.startswith("multipart/form-data"):
                req.form = parse_form(ctype, body)
            standin.requests.append(req)
            reply = standin.route(req)
            if reply.delay:
                time.sleep(reply.delay)
            try:
                if reply.drop:
                    self.close_connection = True
                elif reply.endless:
                    self._endless(reply)
                else:
                    self._reply(reply)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (a deadline, a size limit, Cancel)

        def _reply(self, reply: Reply):
            data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            headers = {"Content-Type": "application/json", "Content-Length": str(len(data)), **reply.headers}
            if not headers["Content-Length"]:  # no stated length: the body ends when the connection closes
                del headers["Content-Length"]
                headers["Connection"] = "close"
                self.close_connection = True
            if not reply.drip:
                self.send_response(reply.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
                return
            head = f"HTTP/1.1 {reply.status} OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            for byte in head.encode() + b"\r\n" + data:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(reply.drip)

        def _endless(self, reply: Reply):
            self.send_response(reply.status)
            for name, value in {"Content-Type": "application/json", "Connection": "close", **reply.headers}.items():
                self.send_header(name, value)
            self.end_headers()
            self.close_connection = True
            chunk = b"x" * 65536
            while True:
                self.wfile.write(chunk)
                standin.streamed += len(chunk)

        do_GET = do_POST = _serve

    return Handler


@pytest.fixture
def standin(monkeypatch, tmp_path):
    """The stand-in server, the services' URL and key variables pointing at it, an empty user folder,
    and client settings with no waiting (sleeps are recorded in ``standin.sleeps``)."""
    from maskforge.remote import client

    server = StandIn()
    server.sleeps = []
    for service, key in KEYS.items():
        monkeypatch.setenv(f"MASKFORGE_{service.upper()}_KEY", key)
    monkeypatch.setenv("MASKFORGE_HOMEDESIGNS_URL", f"{server.url}/hd")
    monkeypatch.setenv("MASKFORGE_SEGMIND_URL", f"{server.url}/segmind")
    monkeypatch.setenv("MASKFORGE_MODELSLAB_URL", f"{server.url}/modelslab")
    monkeypatch.delenv("MASKFORGE_HOMEDESIGNS_AUTH_HEADER", raising=False)
    monkeypatch.setenv("MASKFORGE_USER_DIR", str(tmp_path / "user"))
    monkeypatch.setattr(client, "DEFAULT_SETTINGS", client.Settings(
        connect_timeout=2.0, deadline=5.0, backoff=0.5, sleep=server.sleeps.append))
    yield server
    server.close()
