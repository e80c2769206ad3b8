"""Training and evaluation data: readers and batch iterators (no ROS needed).

Readers (uint8 images, RGB or grey):

- :func:`load_fashion_mnist`: the idx files of Debian's ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist/*-ubyte.gz``), read with :func:`read_idx`;
- :class:`ImageFolderDataset`: an ImageNet-style ``root/<class>/<image>`` folder;
- :func:`read_image_folder`: label-free images of a folder (recursively);
- :func:`read_rosbag_images`: the ``sensor_msgs/msg/Image`` and ``CompressedImage``
  messages of a rosbag2 recording (sqlite3 or MCAP) or a ROS 1 bag, read with the
  ``rosbags`` library (no ROS installation needed);
- :func:`read_sample_photos`: the photos shipped in ``bottlefit_ros/data/samples``.

Batch iterators yield ``(images, labels)`` on the training device: images are
``(N, C, H, W)`` in 0..255 units (float while training, uint8 for evaluation, so the
codecs and JPEG see exactly what the model sees), labels a ``long`` tensor or
``None`` (label-free). Random choices come from generators seeded with
``(seed, epoch, rank)``, never from the global RNG, so an epoch's batches are the
same after a resume. Augmentation runs on the device, batched.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["DEFAULT_FASHION_MNIST", "ImageFolderDataset", "LoaderBatches", "PhotoBatches",
           "TensorBatches", "load_fashion_mnist", "photo_views", "read_idx",
           "read_image_folder", "read_rosbag_images", "read_sample_photos", "write_idx"]

DEFAULT_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

Named = list[tuple[str, np.ndarray]]


# ---------------------------------------------------------------------------- idx files
def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """An idx file (LeCun's MNIST format, optionally gzipped) as a numpy array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:  # type: ignore[operator]
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an idx file (magic {data[:4]!r})")
    dtype, ndim = np.dtype(_IDX_TYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", data[4:header])
    count = int(np.prod(dims)) if dims else 1
    if len(data) - header != count * dtype.itemsize:
        raise ValueError(f"{path}: {len(data) - header} data bytes, the header says "
                         f"{count * dtype.itemsize} for shape {dims}")
    return np.frombuffer(data, dtype, count, header).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write ``array`` (uint8 or int32) as an idx file; gzipped when the name ends in ``.gz``."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}
    code = codes.get(array.dtype)
    if code is None:
        raise ValueError(f"write_idx supports uint8 and int32, got {array.dtype}")
    body = struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
    body += array.astype(array.dtype.newbyteorder(">")).tobytes()
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:  # type: ignore[operator]
        f.write(body)


def _find(root: Path, stem: str) -> Path:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{stem}[.gz] not found in {root}; Fashion-MNIST comes with Debian's "
        f"dataset-fashion-mnist package (apt-get install dataset-fashion-mnist -> "
        f"{DEFAULT_FASHION_MNIST}), or pass data.root=DIR")


def load_fashion_mnist(root: str | os.PathLike[str] = DEFAULT_FASHION_MNIST,
                       split: str = "train") -> tuple[Tensor, Tensor]:
    """``(images uint8 (N, 1, 28, 28), labels int64 (N,))`` of the train or test split."""
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise ValueError(f"split must be train or test, got {split!r}")
    root = Path(root or DEFAULT_FASHION_MNIST)
    images = read_idx(_find(root, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find(root, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{root}: images {images.shape} and labels {labels.shape} do not match")
    return (torch.from_numpy(images.astype(np.uint8)).unsqueeze(1),
            torch.from_numpy(labels.astype(np.int64)))


# ---------------------------------------------------------------------------- images
def _shrink(rgb: np.ndarray, max_side: int) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    if max_side and max(h, w) > max_side:
        s = max_side / max(h, w)
        rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))),
                         interpolation=cv2.INTER_AREA)
    return rgb


def read_image(path: str | os.PathLike[str], max_side: int = 0) -> np.ndarray | None:
    """An image file as RGB uint8 (grey stacked to RGB), or ``None`` if unreadable."""
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    return _shrink(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), max_side)


def read_image_folder(root: str | os.PathLike[str], *, exclude: Sequence[str] = (),
                      max_side: int = 0) -> Named:
    """``[(relative name, RGB uint8)]`` of every image under ``root``, sorted by name.

    ``exclude`` lists file names (or relative paths) left out; unreadable files are skipped.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    skip = set(exclude)
    out: Named = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        rel = path.relative_to(root).as_posix()
        if path.name in skip or rel in skip or path.stem in skip:
            continue
        rgb = read_image(path, max_side)
        if rgb is not None:
            out.append((rel, rgb))
    return out


def read_sample_photos(*, exclude: Sequence[str] = (), max_side: int = 0) -> Named:
    """The sample photos shipped with the package (``bottlefit_ros/data/samples``)."""
    from bottlefit_ros.sources import sample_photos_dir

    return read_image_folder(sample_photos_dir(), exclude=exclude, max_side=max_side)


def _ros_image_to_rgb(msg: object) -> np.ndarray:
    import cv2

    if hasattr(msg, "format"):  # sensor_msgs/msg/CompressedImage
        buf = np.frombuffer(bytes(msg.data), np.uint8)  # type: ignore[attr-defined]
        bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot decode a CompressedImage ({msg.format})")  # type: ignore
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    enc = str(msg.encoding).lower()  # type: ignore[attr-defined]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)  # type: ignore[attr-defined]
    channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8uc1": 1, "8uc3": 3}
    if enc not in channels:
        raise ValueError(f"unsupported Image encoding {msg.encoding!r} "  # type: ignore
                         f"(supported: {', '.join(channels)})")
    c = channels[enc]
    raw = np.frombuffer(bytes(msg.data), np.uint8)  # type: ignore[attr-defined]
    img = raw[: h * step].reshape(h, step)[:, : w * c].reshape(h, w, c)
    if enc in ("bgr8", "8uc3"):
        return img[:, :, ::-1].copy()
    if enc == "bgra8":
        return img[:, :, 2::-1].copy()
    if enc == "rgba8":
        return img[:, :, :3].copy()
    if c == 3:
        return img.copy()
    return np.repeat(img, 3, axis=2)


def read_rosbag_images(path: str | os.PathLike[str], *, topic: str = "", every_n: int = 1,
                       max_side: int = 0, limit: int = 0) -> Named:
    """Images of a recording: ``[("topic@stamp_ns", RGB uint8)]`` in time order.

    ``path`` is a rosbag2 folder (sqlite3 or MCAP storage), a ``.mcap`` file's folder,
    or a ROS 1 ``.bag``. Reads ``sensor_msgs/msg/Image`` (rgb8, bgr8, rgba8, bgra8,
    mono8) and ``CompressedImage`` on ``topic`` (all image topics if empty), keeping
    every ``every_n``-th message. Message definitions come from the bag, else from the
    ``rosbags`` type store of the latest ROS 2 distribution.
    """
    try:
        from rosbags.highlevel import AnyReader
        from rosbags.typesys import Stores, get_typestore
    except ImportError as exc:  # pragma: no cover - dependency missing
        raise ImportError("reading bags needs the rosbags package (pip install rosbags)") from exc
    bag = Path(path)
    if bag.is_file() and bag.suffix == ".mcap":
        bag = bag.parent
    wanted = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage",
              "sensor_msgs/Image", "sensor_msgs/CompressedImage")
    out: Named = []
    with AnyReader([bag], default_typestore=get_typestore(Stores.LATEST)) as reader:
        conns = [c for c in reader.connections
                 if c.msgtype in wanted and (not topic or c.topic == topic)]
        if not conns:
            found = sorted({f"{c.topic} [{c.msgtype}]" for c in reader.connections})
            raise ValueError(f"{path}: no image topic{' ' + topic if topic else ''}; "
                             f"topics: {', '.join(found) or 'none'}")
        for i, (conn, stamp, raw) in enumerate(reader.messages(connections=conns)):
            if i % max(1, every_n):
                continue
            msg = reader.deserialize(raw, conn.msgtype)
            out.append((f"{conn.topic}@{stamp}", _shrink(_ros_image_to_rgb(msg), max_side)))
            if limit and len(out) >= limit:
                break
    return out


def _to_chw(rgb: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))


def photo_views(images: Named, size: int, views: str = "crops") -> tuple[Tensor, list[str]]:
    """Deterministic evaluation views of label-free photos: ``(uint8 (V, 3, S, S), names)``.

    ``center``: the demo's preprocessing (shorter side to ``S / 0.875``, centre crop);
    ``crops`` adds the whole centre square, a centre crop of half the shorter side, the
    four corner crops of 60 % of it, and the horizontal mirror of each: 14 views per photo.
    """
    import cv2

    from bottlefit_ros.models import Preprocessor

    if views not in ("center", "crops"):
        raise ValueError(f"views must be center or crops, got {views!r}")
    pre = Preprocessor(size=size)
    out: list[np.ndarray] = []
    names: list[str] = []

    def add(name: str, crop: np.ndarray) -> None:
        area = crop.shape[0] * crop.shape[1] > size * size
        view = cv2.resize(np.ascontiguousarray(crop), (size, size),
                          interpolation=cv2.INTER_AREA if area else cv2.INTER_LINEAR)
        out.append(view)
        names.append(name)

    for name, rgb in images:
        h, w = rgb.shape[:2]
        top, bottom, left, right = pre.crop_window(h, w)
        crops = [("center", rgb[top:bottom, left:right])]
        if views == "crops":
            s = min(h, w)
            y0, x0 = (h - s) // 2, (w - s) // 2
            crops.append(("square", rgb[y0:y0 + s, x0:x0 + s]))
            c = s // 2
            crops.append(("half", rgb[(h - c) // 2:(h - c) // 2 + c, (w - c) // 2:(w - c) // 2 + c]))
            k = int(0.6 * s)
            for tag, (yy, xx) in {"tl": (0, 0), "tr": (0, w - k), "bl": (h - k, 0),
                                  "br": (h - k, w - k)}.items():
                crops.append((tag, rgb[yy:yy + k, xx:xx + k]))
            crops += [(f"{t}-flip", c_[:, ::-1]) for t, c_ in list(crops)]
        for tag, crop in crops:
            add(f"{name}#{tag}", crop)
    if not out:
        raise ValueError("no images to make evaluation views from")
    return torch.from_numpy(np.stack(out).transpose(0, 3, 1, 2).copy()), names


# ---------------------------------------------------------------------------- augmentation
def _generator(seed: int, epoch: int, rank: int, device: torch.device | str = "cpu"
               ) -> torch.Generator:
    g = torch.Generator(device="cpu")
    g.manual_seed((seed * 1_000_003 + epoch * 9_176 + rank * 131) % (2**63))
    return g


def _rrc_boxes(n: int, h: int, w: int, g: torch.Generator, min_scale: float,
               ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> Tensor:
    """``(n, 4)`` float boxes ``(top, left, height, width)`` in pixels, torchvision RRC style."""
    area = h * w
    scale = torch.empty(n).uniform_(min_scale, 1.0, generator=g) * area
    log_r = torch.empty(n).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=g)
    r = torch.exp(log_r)
    bw = torch.sqrt(scale * r).clamp(1, w)
    bh = torch.sqrt(scale / r).clamp(1, h)
    top = torch.rand(n, generator=g) * (h - bh)
    left = torch.rand(n, generator=g) * (w - bw)
    return torch.stack([top, left, bh, bw], 1)


def _color_jitter(x: Tensor, g: torch.Generator, strength: float = 0.4,
                  grey_p: float = 0.1) -> Tensor:
    """Brightness, contrast, saturation in ``1 +- strength`` and random grey, per sample."""
    n = x.shape[0]
    if x.shape[1] != 3:
        return x

    def factors() -> Tensor:
        return (torch.empty(n).uniform_(1 - strength, 1 + strength, generator=g)
                .to(x.device).view(n, 1, 1, 1))

    weights = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
    x = x * factors()
    mean = (x * weights).sum(1, keepdim=True).mean((2, 3), keepdim=True)
    x = (x - mean) * factors() + mean
    grey = (x * weights).sum(1, keepdim=True)
    x = (x - grey) * factors() + grey
    to_grey = (torch.rand(n, generator=g) < grey_p).to(x.device).view(n, 1, 1, 1)
    x = torch.where(to_grey, (x * weights).sum(1, keepdim=True).expand_as(x), x)
    return x.clamp(0, 255)


def resize_batch(images: Tensor, size: int) -> Tensor:
    """``(N, C, h, w)`` -> float ``(N, C, S, S)``, bilinear (antialiased when shrinking)."""
    x = images.float()
    if x.shape[-2:] == (size, size):
        return x
    shrink = x.shape[-1] > size or x.shape[-2] > size
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=shrink)


def augment_batch(images: Tensor, size: int, mode: str, g: torch.Generator,
                  min_scale: float = 0.08) -> Tensor:
    """Random resized crop + horizontal flip (``standard``), plus colour (``strong``).

    Done with one ``grid_sample`` for the whole batch: inputs of one size, float output
    ``(N, C, S, S)`` in 0..255 units. ``none`` only resizes.
    """
    if mode == "none":
        return resize_batch(images, size)
    n, _, h, w = images.shape
    boxes = _rrc_boxes(n, h, w, g, min_scale)
    flip = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    top, left, bh, bw = boxes.unbind(1)
    cx = (left + bw / 2) / w * 2 - 1
    cy = (top + bh / 2) / h * 2 - 1
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = bw / w * flip
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = bh / h
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta.to(images.device), [n, images.shape[1], size, size],
                         align_corners=False)
    x = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="reflection",
                      align_corners=False)
    if mode == "strong":
        x = _color_jitter(x, g)
    return x


# ---------------------------------------------------------------------------- batches
class _Batches:
    epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def labelled(self) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def __len__(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor | None]]:  # pragma: no cover
        raise NotImplementedError


class TensorBatches(_Batches):
    """Batches of an in-memory ``(N, C, h, w)`` uint8 image tensor (and labels).

    Shuffled per epoch, sharded over ``world`` ranks (each rank gets an equal share);
    resized (and augmented) to ``size`` on ``device``. ``uint8=True`` rounds the
    resized images to uint8: what evaluation and the codecs work on.
    """

    def __init__(self, images: Tensor, labels: Tensor | None, *, size: int, batch_size: int,
                 device: torch.device | str = "cpu", shuffle: bool = False,
                 augment: str = "none", min_scale: float = 0.08, seed: int = 0,
                 rank: int = 0, world: int = 1, drop_last: bool = False, uint8: bool = False,
                 on_device: bool = True) -> None:
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.device = torch.device(device)
        where = self.device if on_device else torch.device("cpu")
        self.images = images.to(where)
        self.labels = labels.to(where) if labels is not None else None
        self.size, self.batch_size = size, batch_size
        self.shuffle, self.augment, self.min_scale = shuffle, augment, min_scale
        self.seed, self.rank, self.world = seed, rank, world
        self.drop_last, self.uint8 = drop_last, uint8

    @property
    def labelled(self) -> bool:
        return self.labels is not None

    def _indices(self) -> Tensor:
        n = len(self.images)
        if self.shuffle:
            order = torch.randperm(n, generator=_generator(self.seed, self.epoch, 0))
        else:
            order = torch.arange(n)
        if self.world > 1:
            per = n // self.world if self.drop_last else math.ceil(n / self.world)
            order = torch.cat([order, order[: per * self.world - n]]) if per * self.world > n \
                else order[: per * self.world]
            order = order[self.rank::self.world]
        return order

    def __len__(self) -> int:
        n = len(self._indices())
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor | None]]:
        order = self._indices().to(self.images.device)
        g = _generator(self.seed, self.epoch, self.rank + 1)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            x = self.images.index_select(0, idx).to(self.device, non_blocking=True)
            x = augment_batch(x, self.size, self.augment, g, self.min_scale)
            if self.uint8:
                x = x.round_().clamp_(0, 255).to(torch.uint8)
            y = (self.labels.index_select(0, idx).to(self.device, non_blocking=True)
                 if self.labels is not None else None)
            yield x, y


class PhotoBatches(_Batches):
    """Label-free batches of random resized crops of a few photos of any size.

    Each batch draws ``batch_size`` photos (with replacement), crops each at random
    (area ``min_scale``..1, aspect 3/4..4/3), resizes with antialiasing, flips, and
    (``strong``) jitters colour; ``steps`` batches make an epoch.
    """

    def __init__(self, images: Named, *, size: int, batch_size: int, steps: int,
                 device: torch.device | str = "cpu", augment: str = "strong",
                 min_scale: float = 0.08, seed: int = 0, rank: int = 0) -> None:
        if not images:
            raise ValueError("no training images")
        self.device = torch.device(device)
        self.names = [n for n, _ in images]
        self.images = [_to_chw(rgb).to(self.device) for _, rgb in images]
        self.size, self.batch_size, self.steps = size, batch_size, max(1, steps)
        self.augment, self.min_scale, self.seed, self.rank = augment, min_scale, seed, rank

    @property
    def labelled(self) -> bool:
        return False

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor | None]]:
        g = _generator(self.seed, self.epoch, self.rank + 7)
        for _ in range(self.steps):
            pick = torch.randint(len(self.images), (self.batch_size,), generator=g).tolist()
            crops = []
            for i in pick:
                img = self.images[i]
                h, w = img.shape[1:]
                if self.augment == "none":
                    top, left, bh, bw = 0, 0, h, w
                else:
                    box = _rrc_boxes(1, h, w, g, self.min_scale)[0]
                    top, left = int(box[0]), int(box[1])
                    bh, bw = max(1, int(box[2])), max(1, int(box[3]))
                crops.append(resize_batch(img[None, :, top:top + bh, left:left + bw], self.size))
            x = torch.cat(crops)
            if self.augment != "none":
                flip = (torch.rand(len(x), generator=g) < 0.5).to(self.device).view(-1, 1, 1, 1)
                x = torch.where(flip, x.flip(-1), x)
            if self.augment == "strong":
                x = _color_jitter(x, g)
            yield x, None


class ImageFolderDataset(torch.utils.data.Dataset):
    """ImageNet-style ``root/<class>/<image>`` folder -> ``(uint8 (3, S, S), label)``.

    ``train``: random resized crop (area ``min_scale``..1) + horizontal flip, from a
    generator seeded by ``(seed, epoch, index)``; otherwise the evaluation crop
    (shorter side to ``S / 0.875``, centre crop), as :class:`~bottlefit_ros.models.Preprocessor`.
    """

    def __init__(self, root: str | os.PathLike[str], *, size: int, train: bool,
                 min_scale: float = 0.08, seed: int = 0, limit: int = 0) -> None:
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"image folder not found: {root}")
        self.classes = sorted(p.name for p in root.iterdir() if p.is_dir())
        if not self.classes:
            raise ValueError(f"{root}: no class folders (expected root/<class>/<image>)")
        self.samples = [(p, i) for i, c in enumerate(self.classes)
                        for p in sorted((root / c).rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
        if limit:
            step = max(1, len(self.samples) // limit)
            self.samples = self.samples[::step][:limit]
        self.size, self.train, self.min_scale, self.seed = size, train, min_scale, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        import cv2

        from bottlefit_ros.models import Preprocessor

        path, label = self.samples[index]
        rgb = read_image(path)
        if rgb is None:
            raise ValueError(f"cannot read image {path}")
        h, w = rgb.shape[:2]
        if self.train:
            g = _generator(self.seed, self.epoch, index + 1000)
            top, left, bh, bw = (int(v) for v in _rrc_boxes(1, h, w, g, self.min_scale)[0])
            crop = rgb[top:top + max(1, bh), left:left + max(1, bw)]
            if torch.rand(1, generator=g).item() < 0.5:
                crop = crop[:, ::-1]
        else:
            t, b, lft, r = Preprocessor(size=self.size).crop_window(h, w)
            crop = rgb[t:b, lft:r]
        shrink = crop.shape[0] * crop.shape[1] > self.size ** 2
        crop = cv2.resize(np.ascontiguousarray(crop), (self.size, self.size),
                          interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        return _to_chw(crop), label


class LoaderBatches(_Batches):
    """Batches of an :class:`ImageFolderDataset` through a ``DataLoader`` (workers,
    ``DistributedSampler`` over ``world`` ranks), moved to ``device``."""

    def __init__(self, dataset: ImageFolderDataset, *, batch_size: int, device: torch.device | str,
                 shuffle: bool, workers: int = 4, seed: int = 0, rank: int = 0, world: int = 1,
                 drop_last: bool = False, uint8: bool = False) -> None:
        self.dataset, self.device, self.uint8 = dataset, torch.device(device), uint8
        self.sampler = torch.utils.data.DistributedSampler(
            dataset, num_replicas=world, rank=rank, shuffle=shuffle, seed=seed,
            drop_last=drop_last) if world > 1 else None
        self.shuffle, self.seed = shuffle, seed
        self.loader_args = dict(batch_size=batch_size, num_workers=workers,
                                pin_memory=self.device.type == "cuda", drop_last=drop_last,
                                persistent_workers=False)

    @property
    def labelled(self) -> bool:
        return True

    def __len__(self) -> int:
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        b = self.loader_args["batch_size"]
        return n // b if self.loader_args["drop_last"] else math.ceil(n / b)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor | None]]:
        self.dataset.epoch = self.epoch
        if self.sampler is not None:
            self.sampler.set_epoch(self.epoch)
            loader = torch.utils.data.DataLoader(self.dataset, sampler=self.sampler,
                                                 **self.loader_args)
        else:
            g = torch.Generator()
            g.manual_seed(self.seed * 1000 + self.epoch)
            loader = torch.utils.data.DataLoader(self.dataset, shuffle=self.shuffle,
                                                 generator=g, **self.loader_args)
        for x, y in loader:
            x = x.to(self.device, non_blocking=True)
            yield (x if self.uint8 else x.float()), y.to(self.device, non_blocking=True)
