"""Bad-image corpus (helpers.bad_corpus) through xviz.inputs.load_image (docs/ARCHITECTURE.md, "Bad input"): each
gives a clear message or a correct RGB image (a LoadedImage: picture, notes, source, one digest)."""

import io

import numpy as np
import pytest
from helpers import bad_corpus, image_bytes
from PIL import Image

from xviz.errors import InputError
from xviz.inputs import load_image
from xviz.inputs.image import LoadedImage, as_pil, fit_image
from xviz.samples import load_sample, sample_bytes, sample_names


def _rgb(w=64, h=48, color=(200, 30, 40)):
    return Image.new("RGB", (w, h), color)


@pytest.mark.parametrize("kind", list(bad_corpus()))
def test_bad_images_give_messages(kind):
    data, must = bad_corpus()[kind]
    with pytest.raises(InputError) as err:
        load_image(data, "photo.png")
    msg = str(err.value)
    assert must in msg, msg
    assert len(msg) < 300 and msg.endswith((".", ")")), msg


def test_not_bytes_and_oversized(monkeypatch):
    with pytest.raises(InputError, match="bytes"):
        load_image("not bytes")  # type: ignore[arg-type]
    import xviz.inputs.image as mod

    monkeypatch.setattr(mod, "MAX_BYTES", 100)
    with pytest.raises(InputError, match="limited"):
        load_image(image_bytes(_rgb(), "PNG"))


def _px(im, xy):
    return tuple(as_pil(im).getpixel(xy))


def test_sixteen_bit_scaled():
    arr = np.array([[0, 32896, 65535, 65535]] * 20, dtype=np.uint16).repeat(5, 1)  # (20, 20)
    im = load_image(image_bytes(Image.fromarray(arr), "PNG"))
    assert im.image.mode == "RGB" and _px(im, (0, 0)) == (0, 0, 0)
    assert _px(im, (7, 0)) == (128, 128, 128) and _px(im, (19, 0)) == (255, 255, 255)
    assert any("16-bit" in n for n in im.notes)


def test_cmyk_palette_rgba_gray_bitonal_float():
    cmyk = load_image(image_bytes(Image.new("CMYK", (32, 32), (0, 0, 0, 0)), "JPEG", quality=100))
    assert all(abs(c - 255) <= 2 for c in _px(cmyk, (5, 5)))
    pal = Image.new("P", (32, 32), 1)
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    pal.info["transparency"] = 0
    pal.paste(0, (0, 0, 16, 32))  # left half transparent
    im = load_image(image_bytes(pal, "PNG"))
    assert _px(im, (2, 2)) == (255, 255, 255) and _px(im, (30, 2)) == (10, 200, 30)
    rgba = Image.new("RGBA", (32, 32), (0, 0, 0, 128))
    im = load_image(image_bytes(rgba, "PNG"))  # black at 50 % over white
    assert all(abs(c - 127) <= 1 for c in _px(im, (3, 3)))
    assert any("white" in n for n in im.notes)
    assert _px(load_image(image_bytes(Image.new("L", (20, 20), 77), "PNG")), (1, 1)) == (77, 77, 77)
    assert _px(load_image(image_bytes(Image.new("LA", (20, 20), (90, 255)), "PNG")), (1, 1)) == (90, 90, 90)
    assert _px(load_image(image_bytes(Image.new("1", (20, 20), 1), "BMP")), (1, 1)) == (255, 255, 255)
    f = Image.fromarray(np.linspace(-1, 1, 400, dtype=np.float32).reshape(20, 20), "F")
    im = load_image(image_bytes(f, "TIFF"))
    assert _px(im, (0, 0)) == (0, 0, 0) and _px(im, (19, 19)) == (255, 255, 255)


def test_animated_gif_first_frame():
    frames = [Image.new("RGB", (32, 32), c) for c in [(255, 0, 0), (0, 0, 255), (0, 255, 0)]]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    im = load_image(buf.getvalue(), "anim.gif")
    r, g, b = _px(im, (10, 10))
    assert r > 200 and g < 50 and b < 50
    assert any("3 frames" in n for n in im.notes)


def test_exif_rotation_applied():
    im = Image.new("RGB", (60, 40), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, 10, 10))  # red top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    out = load_image(image_bytes(im, "JPEG", exif=exif.tobytes(), quality=95))
    assert out.image.size == (40, 60)
    r, g, b = _px(out, (35, 4))  # top-left red ends up top-right
    assert r > 200 and b < 60
    assert any("EXIF" in n for n in out.notes)


# EXIF orientation → what the viewer must do to the stored pixels (numpy, independent of Pillow's table).
UPRIGHT = {
    1: lambda a: a,
    2: np.fliplr,
    3: lambda a: np.rot90(a, 2),
    4: np.flipud,
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


@pytest.mark.parametrize("fmt,kw", [("PNG", {}), ("TIFF", {}), ("WEBP", {"lossless": True})])
def test_exif_orientations_come_out_upright(fmt, kw):
    """All eight orientations in three lossless formats (TIFF's decoder applies the tag itself: it must not be
    applied twice)."""
    arr = np.random.default_rng(3).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    for o, upright in UPRIGHT.items():
        exif = Image.Exif()
        exif[0x0112] = o
        out = load_image(image_bytes(Image.fromarray(arr), fmt, exif=exif.tobytes(), **kw), f"o{o}")
        np.testing.assert_array_equal(np.asarray(out.image), upright(arr), err_msg=f"{fmt} orientation {o}")
        assert any("EXIF" in n for n in out.notes) == (o != 1)


def test_loaded_image_carries_notes_source_and_one_digest():
    data = image_bytes(Image.new("RGBA", (32, 24), (10, 20, 30, 100)), "PNG")
    a = load_image(data, "photo.png")
    assert isinstance(a, LoadedImage) and a.source == "upload:photo.png" and a.image.size == (32, 24)
    assert a.notes == ("Transparent areas are shown on white.",) and "xviz_notes" not in a.image.info
    with pytest.raises(AttributeError):
        a.notes = ()  # frozen
    b = load_image(data, "photo.png", source="sample:x")
    assert b.source == "sample:x"
    from xviz.inputs import image_digest
    from xviz.samples import sample_image

    assert a.digest == b.digest == image_digest(a.image) and len(a.digest) == 40  # stable across loads
    assert a == load_image(data, "photo.png") and hash(a) == hash(load_image(data, "photo.png")) and a != b
    changed = a.image.copy()
    changed.putpixel((5, 5), (0, 0, 0))
    assert LoadedImage(changed).digest != a.digest  # one pixel differs
    assert (
        LoadedImage(a.image.convert("L")).digest
        != LoadedImage(a.image.convert("RGB").convert("L").resize((24, 32))).digest
    )  # size is part of the key
    import pickle

    s = sample_image("coffee")
    d = s.digest
    again = pickle.loads(pickle.dumps(s))  # st.cache_data keeps it
    assert again.__dict__["digest"] == d and again.source == "sample:coffee" and again == s


def test_fit_and_samples():
    big = load_image(image_bytes(_rgb(3000, 1500), "PNG"))
    small = fit_image(big, 1024)
    assert small.image.size == (1024, 512) and any("Downscaled" in n for n in small.notes)
    assert small.notes[: len(big.notes)] == big.notes and small.source == big.source
    assert len(sample_names()) >= 4
    total = 0
    for n in sample_names():
        im = load_sample(n)
        total += len(sample_bytes(n))
        assert im.mode == "RGB" and max(im.size) <= 512 and min(im.size) >= 200
    assert total < 600_000
    with pytest.raises(InputError, match="Unknown sample"):
        load_sample("nope")
