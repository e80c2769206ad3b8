#!/usr/bin/env python3
"""Collect the natural photos used to distil the EfficientNet-Lite0 BottleFit student.

Label-free: only images, no labels. Every photo comes from a Debian package or a
PyPI wheel; they are shrunk (longer side <= --max-side, JPEG quality 90) into a folder
that travels to the GPU machine and is never committed:

    OUT/train/     distillation images (wallpaper photos, OpenCV sample photos, ...)
    OUT/heldout/   never used for training, from packages no training photo comes from:
                   the package's sample photos (bottlefit_ros/data/samples, the demo's
                   frames), darknet's photos and palapeli-data's puzzle photos

--manifest writes one CSV row per photo (split, package, version, file inside the
package, sha256 of that file, licence): docs/training-data-manifest.csv is its output.
Debian's gcompris-qt-data is reserved for the project's acceptance evaluation: never
add it here.

Run from the repository root (needs apt-get download, dpkg-deb, OpenCV):
    python tools/gpu_collect_images.py --out .gpu/images
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np

# (package, path inside the package, files or glob); photos only (abstract art left out).
TRAIN = [
    ("lomiri-wallpapers-16.04", "usr/share/backgrounds",
     ["Bridge_by_Sander_Klootwijk.jpg", "Dragonfly_by_Bolly.jpg", "Picture_0B_by_freespace.jpg",
      "Picture_1A_by_freespace.jpg", "Wine_by_Jakkub_Mede.jpg",
      "aitzgorri_by_Aitzol_Berasategi.jpg", "free_by_Peter_Nerlich.jpg",
      "friends_by_Aitzol_Berasategi.jpg", "life_by_Aitzol_Berasategi.jpg",
      "picosdeeuropa_by_Aitzol_Berasategi.jpg", "seeding_by_Clements_Engelhardt.jpg",
      "sunset_by_Aitzol_Berasategi.jpg"]),
    ("lomiri-wallpapers-20.04", "usr/share/backgrounds", ["Kleiber_by_Lukas_Baubkus.jpg"]),
    ("mate-backgrounds", "usr/share/backgrounds/mate/nature",
     ["Aqua.jpg", "Blinds.jpg", "Dune.jpg", "FreshFlower.jpg", "Garden.jpg", "GreenMeadow.jpg",
      "LadyBird.jpg", "RainDrops.jpg", "Storm.jpg", "TwoWings.jpg", "Wood.jpg",
      "YellowFlower.jpg"]),
    # KDE Plasma wallpapers: the photographs only (each folder's metadata.json names
    # author and licence: LGPLv3, Volna CC-BY-SA-4.0); the largest image of each.
    ("plasma-workspace-wallpapers", "usr/share/wallpapers",
     ["BytheWater/contents/images/2560x1600.jpg", "ColdRipple/contents/images/2560x1600.jpg",
      "ColorfulCups/contents/images/2560x1600.jpg", "DarkestHour/contents/images/2560x1600.jpg",
      "EveningGlow/contents/images/2560x1600.jpg", "FallenLeaf/contents/images/2560x1600.jpg",
      "Grey/contents/images/2560x1600.jpg", "Kite/contents/images/2560x1600.jpg",
      "OneStandsOut/contents/images/2560x1600.jpg", "Path/contents/images/2560x1600.jpg",
      "Volna/contents/images/5120x2880.jpg", "summer_1am/contents/images/2560x1600.jpg"]),
    ("opencv-doc", "usr/share/doc/opencv-doc/examples/data",
     ["fruits.jpg", "baboon.jpg", "squirrel_cls.jpg", "messi5.jpg", "orange.jpg", "home.jpg",
      "aloeL.jpg", "building.jpg", "butterfly.jpg", "apple.jpg", "aero1.jpg", "aero3.jpg",
      "starry_night.jpg", "stuff.jpg", "smarties.png", "chicky_512.png", "basketball1.png",
      "rubberwhale1.png", "graf1.png", "leuvenA.jpg", "box_in_scene.png"]),
]
HELDOUT_DEB = [("darknet", "usr/share/darknet/data",
                ["dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg", "kite.jpg", "person.jpg",
                 "scream.jpg"]),
               ("palapeli-data", "usr/share/palapeli/collection",
                ["castle-maintenon.jpg", "cincinnati-bridge.jpg", "citrus-fruits.jpg",
                 "european-honey-bee.jpg", "panther-chameleon-female.jpg"])]
# Tux Paint's photographic stamps (animals, food, plants, vehicles, ...: cut-out photos of
# ImageNet-like objects), each pasted onto a random crop of a training photo: object-centred
# training images (--stamps). Folders of drawings, letters and symbols are left out.
STAMPS = ("tuxpaint-stamps-default", "usr/share/tuxpaint/stamps")
STAMP_SKIP = {"cartoon", "lowercase", "uppercase", "asl", "roadsigns", "coins", "christmas",
              "halloween", "chess", "hanukkah", "operators", "math", "00_symbols", "string",
              "shapes", "newyears", "japanese", "flags", "planets", "music", "easter"}
# Licence per package (its debian/copyright "Files: *", or the file's own metadata).
LICENCES = {
    "lomiri-wallpapers-16.04": "CC-BY-4.0 or CC-BY-SA-4.0 (per file)",
    "lomiri-wallpapers-20.04": "CC-BY-SA-3.0",
    "mate-backgrounds": "GPL-2+",
    "plasma-workspace-wallpapers": "LGPL-3 (metadata.json; Volna: CC-BY-SA-4.0)",
    "opencv-doc": "Apache-2.0 (Files: *; per-image provenance not stated)",
    "darknet": "GPL-3+ or MIT or WTFPL",
    "palapeli-data": "GPL-2+ (Files: *)",
    "matplotlib": "matplotlib sample data (PSF-style licence)",
    "bottlefit_ros": "see bottlefit_ros/data/samples/README.md",
    "tuxpaint-stamps-default": "GPL-2 (Files: *); background: the named training photo",
}


def _extract(package: str, tmp: Path, versions: dict[str, str]) -> Path:
    root = tmp / package
    if not root.is_dir():
        subprocess.run(["apt-get", "download", package], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        deb = next(tmp.glob(f"{package}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        versions[package] = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True,
                                           capture_output=True, text=True).stdout.strip()
    return root


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _stem(name: str) -> str:
    """File stem naming a photo: Plasma's ``Path/contents/images/2560x1600.jpg`` -> ``Path``."""
    return name.split("/")[0] if "/contents/" in name else Path(name).stem


def _save(src: Path, dst: Path, max_side: int) -> None:
    img = cv2.imread(str(src), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read {src}")
    h, w = img.shape[:2]
    if max(h, w) > max_side:
        s = max_side / max(h, w)
        img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(dst.parent / f"{dst.name}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])


def _composite(stamp_path: Path, background: Path, dst: Path, rng: random.Random,
               side: int = 384) -> bool:
    """Paste a cut-out stamp (RGBA) onto a random square crop of ``background``."""
    stamp = cv2.imread(str(stamp_path), cv2.IMREAD_UNCHANGED)
    bg = cv2.imread(str(background), cv2.IMREAD_COLOR)
    if stamp is None or bg is None or stamp.ndim != 3 or stamp.shape[2] != 4:
        return False
    h, w = bg.shape[:2]
    crop = int(min(h, w) * rng.uniform(0.4, 1.0))
    top, left = rng.randrange(h - crop + 1), rng.randrange(w - crop + 1)
    canvas = cv2.resize(bg[top:top + crop, left:left + crop], (side, side),
                        interpolation=cv2.INTER_AREA).astype(np.float32)
    scale = side * rng.uniform(0.45, 0.9) / max(stamp.shape[:2])
    sh, sw = max(1, round(stamp.shape[0] * scale)), max(1, round(stamp.shape[1] * scale))
    stamp = cv2.resize(stamp, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
    y, x = rng.randrange(side - sh + 1), rng.randrange(side - sw + 1)
    alpha = stamp[..., 3:] / 255.0
    region = canvas[y:y + sh, x:x + sw]
    canvas[y:y + sh, x:x + sw] = stamp[..., :3] * alpha + region * (1 - alpha)
    cv2.imwrite(str(dst), canvas.astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=".gpu/images")
    ap.add_argument("--max-side", type=int, default=800)
    ap.add_argument("--manifest", default="", help="CSV file to write (one row per photo)")
    ap.add_argument("--stamps", action="store_true",
                    help="add Tux Paint photo stamps pasted on training photos (seed 0)")
    args = ap.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    (out / "train").mkdir(parents=True)
    (out / "heldout").mkdir(parents=True)
    rows: list[list[str]] = []
    versions: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for split, sources in (("train", TRAIN), ("heldout", HELDOUT_DEB)):
            for package, folder, files in sources:
                root = _extract(package, tmp, versions) / folder
                for name in files:
                    _save(root / name, out / split / f"{package}__{_stem(name)}", args.max_side)
                    rows.append([split, package, versions[package], f"/{folder}/{name}",
                                 _sha256(root / name), LICENCES[package]])
        if args.stamps:
            package, folder = STAMPS
            root = _extract(package, tmp, versions) / folder
            backgrounds = sorted((out / "train").glob("*.jpg"))
            rng = random.Random(0)
            for path in sorted(root.rglob("*.png")):
                rel = path.relative_to(root)
                if STAMP_SKIP & set(rel.parts) or path.stem.endswith("_thumb"):
                    continue
                bg = backgrounds[rng.randrange(len(backgrounds))]
                dst = out / "train" / f"{package}__{'_'.join(rel.with_suffix('').parts)}.jpg"
                if _composite(path, bg, dst, rng):
                    rows.append(["train", package, versions[package], f"/{folder}/{rel}",
                                 _sha256(path), f"{LICENCES[package]} {bg.name}"])
    import matplotlib

    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    _save(hopper, out / "train" / "matplotlib__grace_hopper", args.max_side)
    rows.append(["train", "matplotlib", matplotlib.__version__,
                 "mpl-data/sample_data/grace_hopper.jpg", _sha256(hopper), LICENCES["matplotlib"]])
    samples = Path(__file__).resolve().parents[1] / "bottlefit_ros" / "data" / "samples"
    for p in sorted(samples.glob("*.jpg")):
        shutil.copy(p, out / "heldout" / f"samples__{p.name}")
        rows.append(["heldout", "bottlefit_ros", "", f"bottlefit_ros/data/samples/{p.name}",
                     _sha256(p), LICENCES["bottlefit_ros"]])
    if args.manifest:
        with open(args.manifest, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["split", "package", "version", "file", "sha256", "licence"])
            w.writerows(rows)
    for split in ("train", "heldout"):
        files = sorted((out / split).iterdir())
        size = sum(f.stat().st_size for f in files)
        print(f"{split}: {len(files)} images, {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
