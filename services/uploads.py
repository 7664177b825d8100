"""Hardening an uploaded file before it is kept: size and pixel caps, format by content, re-encoding, thumbnails.

Photos (JPEG, PNG) are decoded in full and written again as JPEG, which drops EXIF (GPS position, camera serial),
XMP, ICC profiles and comments, and leaves nothing of the uploaded bytes but the pixels. PDFs are parsed and written
again without scripts, actions, embedded files, forms or annotations (services/safe_pdf.py); only that rewritten
file is kept, and it is only ever served as a download.
"""

import re
import warnings
from dataclasses import dataclass
from io import BytesIO

from PIL import Image, ImageOps, UnidentifiedImageError

from services.safe_pdf import UnsafePdf, sanitised

JPEG, PNG, PDF = "image/jpeg", "image/png", "application/pdf"
IMAGE_FORMATS = ["JPEG", "PNG"]
JPEG_QUALITY = 85
THUMBNAIL_QUALITY = 80
# An encrypted PDF names its encryption dictionary in a trailer (or an xref stream dictionary, which is not
# compressed): staff could not open it without the password.
_ENCRYPTED_PDF = re.compile(rb"/Encrypt\s*(?:\d+\s+\d+\s+R|<<)")
# iPhones save photos as HEIF by default; Pillow cannot read them without a plugin, so say what to do instead.
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"mif1", b"msf1"}
# Writers may put line ends or padding after the final %%EOF.
_PDF_TAIL_BYTES = 1024
MB = 1024 * 1024


class UploadRefused(Exception):
    """A file that is not kept; the message says why, in words the uploader understands."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class UploadLimits:
    """How big a file may be, in bytes and (for photos) in pixels; the kept photo's and the thumbnail's longest side.

    A page of a household register or a certificate stays legible at 2000 px; a phone's 12 or 48 megapixels only
    make every decode, re-encode, download and backup slower.
    """

    max_bytes: int = 10 * MB
    max_pixels: int = 40_000_000
    max_side: int = 2000
    thumbnail_px: int = 320


@dataclass(frozen=True)
class Hardened:
    """What is kept of an accepted file."""

    content: bytes
    content_type: str
    suffix: str
    width: int | None = None
    height: int | None = None
    thumbnail: bytes | None = None


def harden(data: bytes, *, allow_pdf: bool, limits: UploadLimits) -> Hardened:
    """Return the file as it will be kept, or raise UploadRefused with the reason in Chinese."""
    if not data:
        raise UploadRefused("文件是空的，请重新选择文件")
    if len(data) > limits.max_bytes:
        raise UploadRefused(f"文件过大（{_megabytes(len(data))}），每个文件不能超过 {_megabytes(limits.max_bytes)}，"
                            "请压缩或重新拍摄后上传")
    if data.startswith(b"%PDF-"):
        if not allow_pdf:
            raise UploadRefused("此项材料只接受 JPG 或 PNG 格式的照片，不接受 PDF 文件")
        return _checked_pdf(data)
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        raise UploadRefused("暂不支持 HEIC 格式的照片：请在手机相机设置中选择「兼容性最佳」后重新拍摄，"
                            "或截图后上传 JPG/PNG 图片")
    return _reencoded_photo(data, limits, accepted=_accepted(allow_pdf))


def _accepted(allow_pdf: bool) -> str:
    return "JPG、PNG 格式的照片或 PDF 文件" if allow_pdf else "JPG 或 PNG 格式的照片"


def _megabytes(size: int) -> str:
    return f"{size / MB:.1f} MB".replace(".0 MB", " MB")


PDF_DAMAGED = "PDF 文件不完整或已损坏，请重新导出后上传"
PDF_ENCRYPTED = "PDF 文件设置了密码或加密，工作人员无法打开，请上传未加密的文件"


def _checked_pdf(data: bytes) -> Hardened:
    if b"%%EOF" not in data[-_PDF_TAIL_BYTES:]:
        raise UploadRefused(PDF_DAMAGED)
    if _ENCRYPTED_PDF.search(data):
        raise UploadRefused(PDF_ENCRYPTED)
    try:
        content = sanitised(data)
    except UnsafePdf as exc:
        raise UploadRefused(PDF_ENCRYPTED if exc.reason == "encrypted" else PDF_DAMAGED) from None
    return Hardened(content=content, content_type=PDF, suffix=".pdf")


def _reencoded_photo(data: bytes, limits: UploadLimits, accepted: str) -> Hardened:
    with warnings.catch_warnings():
        # Pillow only warns between its own cap and twice that; a warning here must stop the upload. (The filter is
        # process-wide while it lasts; in another thread it can only make the same warning an error too.)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with _decoded(data, limits) as image:
                return _reencoded(image, limits)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise UploadRefused(_too_many_pixels(limits)) from None
        except UnidentifiedImageError:
            raise UploadRefused(f"无法识别的文件格式：此项材料请上传 {accepted}") from None
        except (OSError, SyntaxError, ValueError, EOFError):
            # Truncated data, broken chunks, bad checksums: the ways Pillow reports a damaged file.
            raise UploadRefused("图片已损坏或不完整，无法打开，请重新拍摄或重新导出后上传") from None


def _decoded(data: bytes, limits: UploadLimits) -> Image.Image:
    """Return the image decoded in full, after checking its declared size and its structure."""
    with Image.open(BytesIO(data), formats=IMAGE_FORMATS) as probe:
        # The header's claim is checked before anything is decoded: a few bytes can claim 65535×65535.
        if probe.width * probe.height > limits.max_pixels:
            raise UploadRefused(_too_many_pixels(limits))
        probe.verify()
    # verify() leaves the image unusable and does not decode the pixels: a truncated JPEG passes it, so open again
    # and load, which reads every byte.
    image = Image.open(BytesIO(data), formats=IMAGE_FORMATS)
    try:
        # A JPEG at least twice the kept size is decoded at 1/2, 1/4 or 1/8 scale straight from its DCT blocks:
        # a quarter of the work (or less) and of the memory, and still every byte is read.
        image.draft(image.mode, _fitted(image.size, limits.max_side))
        image.load()
    except BaseException:
        image.close()
        raise
    return image


def _too_many_pixels(limits: UploadLimits) -> str:
    return (f"图片像素过多，不能超过 {limits.max_pixels / 1_000_000:g} 百万像素，"
            "请缩小图片尺寸后上传")


def _reencoded(image: Image.Image, limits: UploadLimits) -> Hardened:
    # In place, and no conversion of what is RGB already: each copy of a 12 Mpx photo costs tens of milliseconds.
    ImageOps.exif_transpose(image, in_place=True)
    kept = _shrunk(_on_white(image), limits.max_side)
    # What re-encoding must not carry over: EXIF, XMP, ICC and the JPEG comment all travel in `info`.
    kept.info = {}
    thumb = _shrunk(kept, limits.thumbnail_px)
    return Hardened(content=_jpeg(kept, JPEG_QUALITY), content_type=JPEG, suffix=".jpg", width=kept.width,
                    height=kept.height, thumbnail=_jpeg(thumb, THUMBNAIL_QUALITY))


def _fitted(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """Return `size` scaled down, keeping its proportions, so that neither side exceeds `longest` (never up)."""
    width, height = size
    scale = min(1.0, longest / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _shrunk(image: Image.Image, longest: int) -> Image.Image:
    """Return the image within `longest` pixels a side, as a new image (the image itself when it fits already).

    What Image.thumbnail does, without first copying the whole photo: resize makes the new image directly.
    """
    size = _fitted(image.size, longest)
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)


def _on_white(image: Image.Image) -> Image.Image:
    """Return the image in RGB; transparent parts become white (a scan saved as a transparent PNG stays legible)."""
    if image.mode in {"RGBA", "LA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image if image.mode == "RGB" else image.convert("RGB")


def _jpeg(image: Image.Image, quality: int) -> bytes:
    out = BytesIO()
    # No optimize=True: its second pass saves about 5 % of the size and takes longer than the encoding itself.
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()
