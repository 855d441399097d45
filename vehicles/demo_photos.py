"""Demo car photos drawn with Pillow, offline: a flat side view of a car in
its own body colour. ``seed_demo`` writes one per demo car into MEDIA_ROOT."""

from io import BytesIO

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageDraw

from vehicles.models import Vehicle

SIZE = (640, 400)
SKY = (222, 235, 247)
GROUND = (196, 203, 210)
GLASS = (180, 205, 225)
TYRE = (52, 58, 64)
RIM = (206, 212, 218)
# body colours, one per demo car in turn
COLOURS = [
    (220, 53, 69),
    (13, 110, 253),
    (25, 135, 84),
    (255, 193, 7),
    (108, 117, 125),
    (111, 66, 193),
    (253, 126, 20),
    (32, 201, 151),
    (33, 37, 41),
    (214, 51, 132),
]


def draw_car(colour: tuple[int, int, int], *, tall: bool = False) -> bytes:
    """A 640×400 PNG of a car (an MPV or SUV shape when ``tall``)."""
    image = Image.new("RGB", SIZE, SKY)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 300, SIZE[0], SIZE[1]), fill=GROUND)
    roof = 120 if tall else 146
    draw.rounded_rectangle((110, 200, 540, 300), radius=28, fill=colour)  # body
    draw.polygon([(200, 204), (256, roof), (430, roof), (500, 204)], fill=colour)  # cabin
    draw.polygon([(226, 204), (266, roof + 12), (342, roof + 12), (342, 204)], fill=GLASS)
    draw.polygon([(356, 204), (356, roof + 12), (422, roof + 12), (474, 204)], fill=GLASS)
    draw.rectangle((520, 226, 540, 240), fill=(255, 236, 153))  # head lamp
    for centre in (200, 452):
        draw.ellipse((centre - 40, 258, centre + 40, 338), fill=TYRE)
        draw.ellipse((centre - 17, 281, centre + 17, 315), fill=RIM)
    out = BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def give_demo_photo(car: Vehicle, index: int) -> bool:
    """Give a demo car its drawn photo unless it has one whose file exists.
    Returns whether the car changed. Run again, it changes nothing."""
    if car.photo and default_storage.exists(car.photo.name):
        return False
    name = f"cars/demo-{index:02d}.png"
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(draw_car(COLOURS[index % len(COLOURS)], tall=car.seats > 5)))
    if car.photo.name == name:
        return False
    car.photo.name = name
    car.save(update_fields=["photo"])
    return True
