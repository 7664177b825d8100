"""Sample uploads, good and bad, built in memory (shared by the materials tests and the upload benchmark)."""

import random
import struct
import zlib
from io import BytesIO

from PIL import ExifTags, Image

# Tiananmen Square, as a phone would record it.
GPS_POSITION = {
    ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (39.0, 54.0, 26.0),
    ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (116.0, 23.0, 29.0),
}


def _minimal_pdf() -> bytes:
    """Return a valid one-page PDF (blank A4), with its cross-reference table, as a writer would save it."""
    bodies = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
              b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(bodies, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    table = b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    return out + (b"xref\n0 %d\n0000000000 65535 f \n%strailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
                  % (len(bodies) + 1, table, len(bodies) + 1, len(out)))


MINIMAL_PDF = _minimal_pdf()
ENCRYPTED_PDF = MINIMAL_PDF.replace(b"/Root 1 0 R", b"/Root 1 0 R /Encrypt 3 0 R")
NOT_AN_IMAGE = "这不是照片，只是一段文字。".encode() * 20


def photo(width: int = 640, height: int = 480, *, gps: bool = False, orientation: int | None = None,
          comment: bytes | None = None, noise: bool = False) -> bytes:
    """Return a JPEG photo, optionally with a GPS position, an EXIF orientation or a comment."""
    if noise:
        # Random blotches, enlarged: detail that compresses about as a phone photo does (a plain colour would make a
        # tiny file that decodes fast; pixel-level noise, a file larger than any photo).
        small = (max(width // 8, 1), max(height // 8, 1))
        image = Image.frombytes("RGB", small, _noise(small[0] * small[1] * 3)).resize((width, height),
                                                                                    Image.Resampling.BICUBIC)
    else:
        image = Image.new("RGB", (width, height), (200, 120, 40))
    exif = Image.Exif()
    if gps:
        exif.get_ifd(ExifTags.IFD.GPSInfo).update(GPS_POSITION)
        exif[ExifTags.Base.Make] = "TestPhone"
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    out = BytesIO()
    extra = {"comment": comment} if comment else {}
    image.save(out, "JPEG", quality=90, exif=exif, **extra)
    return out.getvalue()


def png(width: int = 300, height: int = 200, *, transparent: bool = False) -> bytes:
    """Return a PNG image (with a transparent half when asked)."""
    image = Image.new("RGBA", (width, height), (30, 30, 30, 255))
    if transparent:
        image.paste((0, 0, 0, 0), (0, 0, width // 2, height))
    out = BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """Return a tiny PNG whose header claims `width`×`height` pixels (a decompression bomb's calling card)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def truncated_jpeg() -> bytes:
    """Return the first half of a JPEG: the header is intact, the pixels stop."""
    data = photo(400, 300, noise=True)
    return data[: len(data) // 2]


def _noise(size: int) -> bytes:
    return random.Random(7).randbytes(size)
