import io

import numpy as np
import pytest
from PIL import Image

from maskforge.batch import files

pytest.importorskip("pyarrow", reason="the batch command's storage needs pyarrow (requirements-batch.txt)")


def png_bytes(pixels, fmt="PNG", **save):
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt, **save)
    return out.getvalue()


def test_output_names_keep_the_relative_path_and_part_inputs_that_would_meet():
    names = ["a/room.jpg", "a/room.PNG", "b/room.jpg", "c.d/photo.webp"]
    assert files.output_names(names) == {"a/room.jpg": "a/room.jpg.png", "a/room.PNG": "a/room.PNG.png",
                                         "b/room.jpg": "b/room.png", "c.d/photo.webp": "c.d/photo.png"}


def test_images_are_listed_below_the_folder_without_hidden_files_other_types_or_the_output(tmp_path):
    for name in ("a.jpg", "sub/b.PNG", "sub/deeper/c.webp", "notes.txt", ".hidden.png", ".cache/d.png",
                 "out/masks/a.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    listed = files.list_images(files.Storage(str(tmp_path)), skip=files.Storage(str(tmp_path / "out")))
    assert listed == ["a.jpg", "sub/b.PNG", "sub/deeper/c.webp"]
    with pytest.raises(ValueError, match="output folder is the input folder"):
        files.list_images(files.Storage(str(tmp_path)), skip=files.Storage(str(tmp_path)))


def test_a_list_of_files_is_named_below_the_folder_they_share(tmp_path):
    text = f"# catalogue\n{tmp_path}/shop/a/1.jpg\n\n{tmp_path}/shop/b/2.jpg\n"
    assert files.list_file(text) == (f"{tmp_path}/shop", ["a/1.jpg", "b/2.jpg"])
    assert files.list_file("s3://bucket/x/a.jpg\ns3://bucket/x/y/b.jpg") == ("s3://bucket/x", ["a.jpg", "y/b.jpg"])
    with pytest.raises(ValueError, match="mixes filesystems"):
        files.list_file(f"s3://bucket/a.jpg\n{tmp_path}/b.jpg")
    with pytest.raises(ValueError, match="names no files"):
        files.list_file("# nothing\n")


def test_a_write_replaces_the_file_whole_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    storage = files.Storage(str(tmp_path))
    storage.write("masks/a/b.png", b"first")
    storage.write("masks/a/b.png", b"second")
    assert (tmp_path / "masks/a/b.png").read_bytes() == b"second"
    assert storage.files() == ["masks/a/b.png"]

    class Interrupted:  # Ctrl-C between writing the temporary file and renaming it
        def __getattr__(self, name):
            return getattr(files.Storage(str(tmp_path)).fs, name)

        def move(self, src, dest):
            raise KeyboardInterrupt

    monkeypatch.setattr(storage, "fs", Interrupted())
    with pytest.raises(KeyboardInterrupt):
        storage.write("masks/a/b.png", b"third")
    assert (tmp_path / "masks/a/b.png").read_bytes() == b"second"  # the old file, whole
    assert storage.files() == ["masks/a/b.png"]
    assert files.is_temporary("masks/a/.b.png.1a2b3c4d.part") and not files.is_temporary("masks/a/b.png")


def test_reading_refuses_a_file_over_the_limit(tmp_path):
    (tmp_path / "big.png").write_bytes(b"x" * 2000)
    storage = files.Storage(str(tmp_path))
    assert storage.read("big.png", 2000) == b"x" * 2000
    with pytest.raises(ValueError, match="over the limit"):
        storage.read("big.png", 1999)
    assert storage.read_text("missing.jsonl") is None


def test_decoding_follows_exif_orientation_and_refuses_damaged_files():
    pixels = np.zeros((10, 20, 3), np.uint8)
    pixels[:, :5] = 255  # a white stripe on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    upright = files.decode(png_bytes(pixels, "JPEG", exif=exif, quality=100))
    assert upright.shape == (20, 10, 3) and upright[:5].mean() > 200 and upright[-5:].mean() < 50  # stripe on top
    assert files.decode(png_bytes(pixels), "RGBA").shape == (10, 20, 4)
    for damaged in (b"not an image", png_bytes(pixels)[:60]):
        with pytest.raises(ValueError, match="not a readable image"):
            files.decode(damaged)


def test_png_round_trips_masks_and_images():
    for pixels in (np.arange(12, dtype=np.uint8).reshape(3, 4), np.full((3, 4, 4), 7, np.uint8)):
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(files.png(pixels)))), pixels)
