"""Checking an uploaded photo (pure, over bytes): a real JPEG, PNG or WebP of sane size, and what its EXIF says
about when and where it was taken. Nothing is trusted from the client's Content-Type: the bytes decide."""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from datetime import datetime, tzinfo

from PIL import ExifTags, Image, UnidentifiedImageError

MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PHOTO_PIXELS = 40_000_000  # beyond a 40 Mpx phone camera: a decompression bomb, not a photo
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


class ImageRejected(ValueError):
    """Not a photo we keep; `status` is the HTTP status that says why (413, 415, 422)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class PhotoInfo:
    content_type: str
    width: int
    height: int
    taken_at: datetime | None  # EXIF DateTimeOriginal (with its offset, else in the given local zone)
    lon: float | None  # EXIF GPS
    lat: float | None


def inspect_photo(data: bytes, local_zone: tzinfo) -> PhotoInfo:
    """Check `data` and read its EXIF; raises ImageRejected. `local_zone` places an EXIF time without offset."""
    if not data:
        raise ImageRejected(422, "the photo is empty: send the image bytes as the body or as the multipart `file`")
    if len(data) > MAX_PHOTO_BYTES:
        raise ImageRejected(413, f"the photo has {len(data)} bytes; at most {MAX_PHOTO_BYTES} are accepted")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own, lower limit applies below
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError:
            raise ImageRejected(413, f"the image has more than {MAX_PHOTO_PIXELS} pixels") from None
        except (UnidentifiedImageError, OSError, ValueError):
            raise ImageRejected(415, "not an image: send a JPEG, PNG or WebP photo") from None
        with image:
            content_type = CONTENT_TYPES.get(image.format or "")
            if content_type is None:
                raise ImageRejected(415, f"{image.format} images are not accepted: send a JPEG, PNG or WebP photo")
            width, height = image.size
            if width * height > MAX_PHOTO_PIXELS:
                raise ImageRejected(
                    413, f"the image is {width}x{height} pixels; at most {MAX_PHOTO_PIXELS} pixels are accepted"
                )
            taken_at, lon, lat = _exif(image, local_zone)
            _decodes(image, data)
    return PhotoInfo(content_type, width, height, taken_at, lon, lat)


def _decodes(image: Image.Image, data: bytes) -> None:
    """Raise ImageRejected (422) when the picture behind a valid header is cut off or corrupt."""
    try:
        if image.format == "JPEG":
            image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))  # decode at 1/8 scale
            image.load()
        elif image.format == "PNG":
            with Image.open(io.BytesIO(data)) as fresh:  # verify() must come straight after open
                fresh.verify()  # every chunk's CRC, through IEND, without decoding the pixels
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(422, f"the {image.format} image is truncated or corrupt ({exc})") from None


def _exif(image: Image.Image, local_zone: tzinfo) -> tuple[datetime | None, float | None, float | None]:
    try:
        exif = image.getexif()
        details = exif.get_ifd(ExifTags.IFD.Exif)
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except Exception:  # a broken EXIF block is no reason to refuse the picture itself
        return None, None, None
    taken_at = _exif_time(details.get(ExifTags.Base.DateTimeOriginal), details.get(ExifTags.Base.OffsetTimeOriginal))
    lat = _gps_degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), "S", 90)
    lon = _gps_degrees(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), "W", 180)
    if lat is None or lon is None:
        lat = lon = None
    if taken_at is not None and taken_at.tzinfo is None:
        taken_at = taken_at.replace(tzinfo=local_zone)
    return taken_at, lon, lat


def _exif_time(value: object, offset: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.strptime(value.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if isinstance(offset, str):
        try:
            return datetime.strptime(f"{moment:%Y-%m-%dT%H:%M:%S}{offset.strip()}", "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            pass
    return moment


def _gps_degrees(value: object, ref: object, negative: str, limit: float) -> float | None:
    """Degrees from EXIF's (degrees, minutes, seconds) rationals and hemisphere letter."""
    if not isinstance(value, tuple) or len(value) != 3:
        return None
    try:
        d, m, s = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    degrees = d + m / 60 + s / 3600
    if isinstance(ref, str) and ref.strip().upper() == negative:
        degrees = -degrees
    return round(degrees, 7) if math.isfinite(degrees) and abs(degrees) <= limit else None
