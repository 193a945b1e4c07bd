"""Images and masks in, images out: the one reader that every path, PIL image, array and tensor goes through.

Conventions: an image is a (1, 3, H, W) float tensor in [-1, 1]; a mask is (1, 1, H, W) with
**1 = the region to fill**, binary: grey levels are scaled to [0, 1] and thresholded at
:data:`MASK_THRESHOLD`. What the reader understands:

- bit depth: 8-bit and 16-bit files (16-bit greyscale PNGs are scaled by 65535, not clipped at 255),
  uint8 / uint16 / bool / float arrays (floats in [0, 1]), other integer arrays in 0..255;
- modes: greyscale, palette, RGB, CMYK; an image's alpha channel is ignored with a warning (the
  colours under transparent pixels are used: to fill them, say so in the mask); a mask's alpha
  multiplies it (transparent = keep);
- 0/1 masks stored as uint8 (``mask.astype(np.uint8)``) are read as 0/1, not as 0 and 1/255;
- the EXIF orientation of photos;
- size: images of more than :data:`MAX_PIXELS` pixels are refused from their header alone, before
  any decoding (a decompression bomb costs nothing).
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageTooLargeError, InpaintInputError, UnreadableImageError

MASK_THRESHOLD = 0.5  # a mask pixel is filled where its value, scaled to [0, 1], is >= 0.5
MAX_PIXELS = 80_000_000  # about 8,900 x 8,900; PIL's own bomb limit is 89.5 M
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def open_image(src: str | Path | bytes, what: str = "image", max_pixels: int = MAX_PIXELS) -> Image.Image:
    """A decoded image file, or the bytes of one (first frame, EXIF orientation applied); a missing,
    unreadable (:class:`UnreadableImageError`) or oversized (:class:`ImageTooLargeError`) one is refused."""
    if isinstance(src, (bytes, bytearray)):
        name, source = f"upload ({len(src):,} bytes)", io.BytesIO(src)
    else:
        name = source = Path(src)
        if not source.is_file():
            raise InpaintInputError(f"{what} not found: {source}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(source)
            if im.width * im.height > max_pixels:
                im.close()
                raise ImageTooLargeError(f"{what} {name} is {im.width}x{im.height} pixels, more than the "
                                         f"{max_pixels:,} inpaintkit reads")
            im.load()
            return ImageOps.exif_transpose(im)
    except InpaintInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:  # PIL's own limit, from the header
        raise ImageTooLargeError(f"{what} {name} has too many pixels, more than the {max_pixels:,} inpaintkit "
                                 f"reads ({e})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise UnreadableImageError(f"{what} is not a readable image: {name} ({e})") from None


def _warn_alpha(what: str) -> None:
    warnings.warn(f"the {what} has an alpha channel; it is ignored (the colours under transparent pixels are "
                  "used; mark the pixels to fill in the mask)", stacklevel=4)


def _pil_array(im: Image.Image, what: str) -> np.ndarray:
    """HxWx3 (image) or HxW (mask) float32 in [0, 1]."""
    mode = im.mode
    if mode in SIXTEEN_BIT_MODES:
        a = np.asarray(im, dtype=np.uint16).astype(np.float32) / 65535.0
        return np.repeat(a[..., None], 3, -1) if what == "image" else a
    if mode == "I":  # 32-bit integer pixels: 16-bit data in practice (values above 255 say so)
        a = np.asarray(im, dtype=np.float64)
        a = a / (65535.0 if a.max(initial=0) > 255 else 255.0)
        a = np.clip(a, 0, 1).astype(np.float32)
        return np.repeat(a[..., None], 3, -1) if what == "image" else a
    if mode == "F":
        return _float_array(np.asarray(im, dtype=np.float32), what, what == "image")
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("1", "CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGB" if what == "image" or mode != "1" else "L")
    elif mode == "PA":
        im = im.convert("RGBA")
    a = np.asarray(im, dtype=np.float32) / 255.0
    return _channels(a, what)


def _channels(a: np.ndarray, what: str) -> np.ndarray:
    """HxW / HxWx1 / HxWx2 (grey + alpha) / HxWx3 / HxWx4 in [0, 1] to HxWx3 (image) or HxW (mask)."""
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        return np.repeat(a[..., None], 3, -1) if what == "image" else a
    if a.ndim != 3 or a.shape[-1] not in (2, 3, 4):
        raise InpaintInputError(f"{what} must be HxW, HxWx3 or HxWx4, got shape {a.shape}")
    colour, alpha = (a[..., :1], a[..., 1]) if a.shape[-1] == 2 else (a[..., :3], a[..., 3] if a.shape[-1] == 4 else None)
    if what == "image":
        if alpha is not None and (alpha < 1).any():
            _warn_alpha(what)
        return np.repeat(colour, 3, -1) if colour.shape[-1] == 1 else colour
    grey = colour.mean(-1)
    return grey * alpha if alpha is not None else grey


def _float_array(a: np.ndarray, what: str, image: bool) -> np.ndarray:
    if not np.isfinite(a).all():
        raise InpaintInputError(f"{what} holds NaN or infinite values")
    lo, hi = float(a.min(initial=0)), float(a.max(initial=0))
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise InpaintInputError(f"a float {what} must have values in [0, 1], got {lo:.3g}..{hi:.3g} "
                                "(pass uint8 for 0..255, uint16 for 16-bit)")
    a = np.clip(a, 0, 1)
    return _channels(a, what) if image or a.ndim == 3 else a


def _numpy_array(src: np.ndarray, what: str) -> np.ndarray:
    if src.dtype == np.bool_:
        return _channels(src.astype(np.float32), what)
    if src.dtype == np.uint8:
        if what == "mask" and src.max(initial=0) <= 1:  # a 0/1 mask stored as uint8
            return _channels(src.astype(np.float32), what)
        return _channels(src.astype(np.float32) / 255.0, what)
    if src.dtype == np.uint16:
        return _channels(src.astype(np.float32) / 65535.0, what)
    if np.issubdtype(src.dtype, np.integer):
        lo, hi = int(src.min(initial=0)), int(src.max(initial=0))
        if lo < 0 or hi > 255:
            raise InpaintInputError(f"an integer {what} array ({src.dtype}) must have values in 0..255, got "
                                    f"{lo}..{hi} (use uint16 for 16-bit data)")
        if what == "mask" and hi <= 1:
            return _channels(src.astype(np.float32), what)
        return _channels(src.astype(np.float32) / 255.0, what)
    if np.issubdtype(src.dtype, np.floating):
        return _float_array(src.astype(np.float32), what, True)
    raise InpaintInputError(f"{what}: unsupported array type {src.dtype}")


def _tensor_array(t: torch.Tensor, what: str) -> np.ndarray:
    t = t.detach().cpu()
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise InpaintInputError(f"{what} tensor must hold one image, got a batch of {t.shape[0]}")
        t = t[0]
    if t.ndim == 3:
        t = t.permute(1, 2, 0)  # CHW -> HWC
    if t.dtype == torch.uint8:
        return _numpy_array(t.numpy(), what)
    if t.dtype == torch.bool:
        return _channels(t.float().numpy(), what)
    a = t.float().numpy()
    if what == "image":  # float tensors are images in [-1, 1]
        return _float_array((a + 1) / 2, what, True)
    return _float_array(a, what, False)


def read_array(src, what: str = "image") -> np.ndarray:
    """HxWx3 (``what="image"``) or HxW (``"mask"``) float32 in [0, 1] from a path, PIL image, numpy array
    (HWC) or tensor (CHW or 1CHW; float images in [-1, 1], float masks in [0, 1])."""
    if isinstance(src, (str, Path)):
        src = open_image(src, what)
    if isinstance(src, Image.Image):
        return _pil_array(src, what)
    if isinstance(src, torch.Tensor):
        return _tensor_array(src, what)
    if isinstance(src, np.ndarray):
        return _numpy_array(src, what)
    raise InpaintInputError(f"{what}: unsupported type {type(src).__name__} (a path, PIL image, array or tensor)")


def load_image(src) -> torch.Tensor:
    """(1, 3, H, W) float tensor in [-1, 1]; such a tensor is returned as it is (after a range check)."""
    if isinstance(src, torch.Tensor) and src.is_floating_point() and (
            (src.ndim == 4 and tuple(src.shape[:2]) == (1, 3)) or (src.ndim == 3 and src.shape[0] == 3)):
        x = src.detach().float().cpu().reshape(1, *src.shape[-3:])
        if not torch.isfinite(x).all() or x.abs().max() > 1 + 1e-3:
            raise InpaintInputError("an image tensor must hold finite values in [-1, 1]")
        return x.clamp(-1, 1)
    a = read_array(src, "image")
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float() * 2 - 1


def binarize(mask: torch.Tensor) -> torch.Tensor:
    """The one threshold: 1 where the mask is >= :data:`MASK_THRESHOLD`."""
    return (mask >= MASK_THRESHOLD).float()


def resize_mask(mask: torch.Tensor, size, threshold: float = MASK_THRESHOLD) -> torch.Tensor:
    """Resize a mask: each output pixel is the covered fraction of its footprint (area average when
    shrinking, bilinear when enlarging) and is filled where that is >= ``threshold``. The default keeps
    the hole ratio unbiased; 0 < threshold << 1 keeps every covered pixel (a safe hole)."""
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if tuple(mask.shape[-2:]) == (h, w):
        return (mask >= threshold - 1e-6).float()
    shrink = h <= mask.shape[-2] and w <= mask.shape[-1]
    m = F.interpolate(mask.float(), size=(h, w), mode="area" if shrink else "bilinear",
                      align_corners=None if shrink else False)
    return (m >= threshold - 1e-6).float()


def load_mask(src, size: tuple[int, int] | None = None, resize: bool = False) -> torch.Tensor:
    """(1, 1, H, W) binary float mask, 1 = fill.

    ``size`` is the image's (H, W): a mask of another size is an error unless ``resize`` is set, in
    which case it is resized (area average / bilinear) before thresholding."""
    m = torch.from_numpy(np.ascontiguousarray(read_array(src, "mask")))[None, None].float()
    if size is not None and tuple(m.shape[-2:]) != tuple(size):
        if not resize:
            raise InpaintInputError(f"mask size {m.shape[-1]}x{m.shape[-2]} differs from image size "
                                    f"{size[1]}x{size[0]} (use --resize-mask to resize it)")
        return resize_mask(m, size)
    return binarize(m)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) in [-1, 1] to an HxWx3 uint8 array (rounded, clipped)."""
    x = image[0] if image.ndim == 4 else image
    return ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


def to_pil(image: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) tensor in [-1, 1] to an RGB PIL image."""
    return Image.fromarray(to_uint8(image))
