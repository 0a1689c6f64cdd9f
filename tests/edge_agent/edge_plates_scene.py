"""SYNTHETIC licence-plate scenes for the plate tests.

No licensed photo of a Chinese plate is available offline, so a plate is rendered (white characters on the blue
of a Chinese small-car plate, 440x140 mm proportions) and warped with a perspective onto the SUV in the real
street photo `../shared/media/mmdet_demo.jpg`. That car is ~100 px wide in the photo, so its region is upscaled
first, as a camera closer to the kerb would see it. Ground-truth corners come back with the scene.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parents[2]
PHOTO = REPO.parent / "shared" / "media" / "mmdet_demo.jpg"
LPD_MODEL = REPO.parent / "shared" / "models" / "license_plate_detection_lpd_yunet_2023mar.onnx"
CJK_FONTS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
)
LATIN_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
SUV_XYXY = (186, 100, 302, 158)
"""The silver SUV in mmdet_demo.jpg (photo pixels)."""
UPSCALE = 5


@dataclass(frozen=True)
class PlateScene:
    image: np.ndarray
    corners: np.ndarray
    """(4, 2) ground truth, clockwise from top-left, in `image` pixels."""
    text: str
    vehicle_xyxy: tuple[float, float, float, float]


def plate_text() -> tuple[str, Path]:
    """`京A88888` with a CJK font when the machine has one, else the latin part `A88888`."""
    for font in CJK_FONTS:
        if font.is_file():
            return "京A88888", font
    return "A88888", LATIN_FONT


def render_plate(text: str, font_path: Path, width: int = 440) -> np.ndarray:
    """A blue plate with a white rim and white characters, BGR, 440:140 proportions."""
    height = round(width * 140 / 440)
    plate = Image.new("RGB", (width, height), (0, 60, 170))
    draw = ImageDraw.Draw(plate)
    rim = max(2, width // 80)
    draw.rectangle([rim, rim, width - rim - 1, height - rim - 1], outline=(255, 255, 255), width=rim)
    size = round(height * 0.7)
    while True:  # the largest font that leaves a margin inside the rim
        font = ImageFont.truetype(str(font_path), size)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        if right - left <= width * 0.9 or size <= 8:
            break
        size -= 2
    x = (width - (right - left)) / 2 - left
    y = (height - (bottom - top)) / 2 - top
    draw.text((x, y), text, font=font, fill=(255, 255, 255))
    return cv2.cvtColor(np.asarray(plate), cv2.COLOR_RGB2BGR)


def plate_on_car() -> PlateScene:
    """The SUV region, upscaled, with the plate warped over its rear plate (a slight perspective tilt)."""
    photo = cv2.imread(str(PHOTO))
    if photo is None:
        raise FileNotFoundError(f"cannot read {PHOTO}")
    x1, y1, x2, y2 = SUV_XYXY
    margin = 20
    region = photo[y1 - margin : y2 + margin, x1 - margin : x2 + margin]
    image = cv2.resize(region, None, fx=UPSCALE, fy=UPSCALE, interpolation=cv2.INTER_CUBIC)
    text, font = plate_text()
    plate = render_plate(text, font)
    ph, pw = plate.shape[:2]
    # Clockwise from top-left, over the car's own rear plate; the right edge taller, as seen slightly from the side.
    corners = np.array([[148, 250], [252, 247], [253, 287], [149, 286]], dtype=np.float32)
    src = np.array([[0, 0], [pw - 1, 0], [pw - 1, ph - 1], [0, ph - 1]], dtype=np.float32)
    warp = cv2.getPerspectiveTransform(src, corners)
    h, w = image.shape[:2]
    warped = cv2.warpPerspective(plate, warp, (w, h), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), warp, (w, h), flags=cv2.INTER_LINEAR)
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    image = (image * (1 - alpha) + warped * alpha).round().astype(np.uint8)
    pad = float(margin * UPSCALE)
    vehicle = (pad, pad, w - pad, h - pad)
    return PlateScene(image=image, corners=corners, text=text, vehicle_xyxy=vehicle)
