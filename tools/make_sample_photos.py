#!/usr/bin/env python3
"""Write the sample photos in bottlefit_ros/data/samples/ and their README.

The photos come from scikit-image's bundled data (``skimage.data``), only those
whose docstrings state a licence that permits redistribution (CC0 or public
domain). Each is resized so that its longer side is 320 px (anti-aliased) and
saved as an RGB JPEG, quality 90, with Pillow (a scikit-image dependency).

Needs scikit-image (the package itself does not depend on it):

    python tools/make_sample_photos.py [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

import numpy as np
import PIL
import skimage
from PIL import Image
from skimage import data
from skimage.color import gray2rgb
from skimage.transform import resize
from skimage.util import img_as_ubyte

LONGER_SIDE = 320
QUALITY = 90


class Sample(NamedTuple):
    name: str  # file stem and skimage.data function
    subject: str
    source: str
    license: str


# Licences as stated in the docstrings of skimage/data/_fetchers.py.
SAMPLES = (
    Sample("chelsea", "Chelsea the cat", "photo by Stefan van der Walt",
           "CC0 (\"No copyright restrictions. CC0 by the photographer\")"),
    Sample("coffee", "a cup of espresso", "photo by Rachel Michetti, courtesy of Pikolo Espresso Bar",
           "CC0 (\"No copyright restrictions. CC0 by the photographer\")"),
    Sample("astronaut", "astronaut Eileen Collins", "NASA Great Images database (https://flic.kr/p/r9qvLn)",
           "public domain (\"No known copyright restrictions, released into the public domain\")"),
    Sample("rocket", "Falcon 9 launch carrying DSCOVR", "SpaceX Photos on Flickr",
           "public domain (released into the public domain by SpaceX)"),
    Sample("camera", "a photographer with a camera on a tripod (grey, stored as RGB)",
           "photo by Lav Varshney", "CC0 (\"No copyright restrictions. CC0 by the photographer\")"),
    Sample("hubble_deep_field", "Hubble eXtreme Deep Field", "NASA / HubbleSite",
           "public domain (NASA: \"may be freely used in the public domain\")"),
)


def make_photo(name: str) -> np.ndarray:
    """Load ``skimage.data.<name>()`` as RGB uint8 with the longer side 320 px."""
    image = getattr(data, name)()
    if image.ndim == 2:
        image = gray2rgb(image)
    height, width = image.shape[:2]
    factor = LONGER_SIDE / max(height, width)
    size = (round(height * factor), round(width * factor))
    return img_as_ubyte(resize(image, size, anti_aliasing=True))


def write_readme(out: Path, shapes: dict[str, tuple[int, ...]]) -> None:
    rows = "\n".join(
        f"| `{s.name}.jpg` | {shapes[s.name][1]}x{shapes[s.name][0]} | {s.subject} | "
        f"`skimage.data.{s.name}()`, {s.source} | {s.license} |"
        for s in SAMPLES
    )
    text = f"""# Sample photos

Small RGB JPEG photos (quality {QUALITY}, longer side {LONGER_SIDE} px) for the
demo and the tests. All come from scikit-image {skimage.__version__}'s bundled data
(`skimage.data`), chosen because their licence permits redistribution; the
licence of each is the one stated in the function's docstring in
`skimage/data/_fetchers.py`.

| file | size (WxH) | subject | source | licence |
|------|------------|---------|--------|---------|
{rows}

Produced by `tools/make_sample_photos.py` (needs scikit-image; the package
itself does not depend on it), run from the repository root with a Python that
has scikit-image {skimage.__version__} and Pillow {PIL.__version__}:

```
python tools/make_sample_photos.py
```

Each image is loaded with `skimage.data.<name>()`, grey images are stacked to
RGB, resized with `skimage.transform.resize(..., anti_aliasing=True)` so that
the longer side is {LONGER_SIDE} px, converted to uint8 and saved with Pillow
{PIL.__version__} (`quality={QUALITY}`, Pillow's defaults otherwise). Re-running
with other scikit-image or Pillow versions may change the bytes, not the content.
"""
    (out / "README.md").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    default = Path(__file__).resolve().parents[1] / "bottlefit_ros" / "data" / "samples"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default, help=f"output folder (default: {default})")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    shapes = {}
    for sample in SAMPLES:
        photo = make_photo(sample.name)
        path = args.out / f"{sample.name}.jpg"
        Image.fromarray(photo).save(path, format="JPEG", quality=QUALITY)
        shapes[sample.name] = photo.shape
        print(f"{path}: {photo.shape[1]}x{photo.shape[0]}, {path.stat().st_size} B")
    write_readme(args.out, shapes)


if __name__ == "__main__":
    main()
