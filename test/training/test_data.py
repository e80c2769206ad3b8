"""Data readers and batches: idx files, image folders, rosbag2 recordings, sample photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bottlefit_ros.training import data as D


@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path, name: str) -> None:
    x = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    D.write_idx(tmp_path / name, x)
    y = D.read_idx(tmp_path / name)
    assert y.dtype == np.uint8 and np.array_equal(x, y)


def test_idx_rejects_garbage(tmp_path) -> None:
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an idx file"):
        D.read_idx(tmp_path / "bad")
    D.write_idx(tmp_path / "short", np.zeros((4, 4), np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-3])
    with pytest.raises(ValueError, match="data bytes"):
        D.read_idx(tmp_path / "short")


def test_fashion_mnist_reader(fm_dir) -> None:
    x, y = D.load_fashion_mnist(fm_dir, "train")
    assert x.shape == (64, 1, 28, 28) and x.dtype == torch.uint8
    assert y.shape == (64,) and y.dtype == torch.int64 and int(y.max()) < 10
    xt, _ = D.load_fashion_mnist(fm_dir, "test")
    assert len(xt) == 32


def test_fashion_mnist_missing_says_how_to_get_it(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        D.load_fashion_mnist(tmp_path, "train")


def test_image_folder_and_samples(tmp_path) -> None:
    import cv2

    (tmp_path / "sub").mkdir()
    for name in ("a.png", "sub/b.jpg", "c.png"):
        cv2.imwrite(str(tmp_path / name), np.full((40, 60, 3), 100, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    found = D.read_image_folder(tmp_path, exclude=["c.png"], max_side=30)
    assert [n for n, _ in found] == ["a.png", "sub/b.jpg"]
    assert found[0][1].shape == (20, 30, 3)
    samples = D.read_sample_photos(exclude=["rocket.jpg"])
    names = [n for n, _ in samples]
    assert "chelsea.jpg" in names and "rocket.jpg" not in names


def _image_msg(typestore, rgb: np.ndarray, encoding: str):
    Image = typestore.types["sensor_msgs/msg/Image"]
    Header = typestore.types["std_msgs/msg/Header"]
    Time = typestore.types["builtin_interfaces/msg/Time"]
    if encoding == "bgr8":
        data = rgb[:, :, ::-1]
    elif encoding == "mono8":
        data = rgb[:, :, 0]
    else:
        data = rgb
    data = np.ascontiguousarray(data)
    step = data.shape[1] * (1 if data.ndim == 2 else 3)
    return Image(header=Header(stamp=Time(sec=1, nanosec=0), frame_id="cam"),
                 height=data.shape[0], width=data.shape[1], encoding=encoding, is_bigendian=0,
                 step=step, data=data.reshape(-1))


@pytest.mark.parametrize("storage", ["MCAP", "SQLITE3"])
def test_rosbag2_images(tmp_path, storage: str) -> None:
    pytest.importorskip("rosbags")
    import cv2
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.LATEST)
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
    grey = np.repeat(rgb[:, :, :1], 3, axis=2)
    bag = tmp_path / "bag"
    with Writer(bag, version=9, storage_plugin=getattr(StoragePlugin, storage)) as writer:
        raw = writer.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=ts)
        comp = writer.add_connection("/camera/image_raw/compressed",
                                     "sensor_msgs/msg/CompressedImage", typestore=ts)
        other = writer.add_connection("/chatter", "std_msgs/msg/String", typestore=ts)
        for i, enc in enumerate(("rgb8", "bgr8", "mono8")):
            msg = _image_msg(ts, rgb, enc)
            writer.write(raw, i, ts.serialize_cdr(msg, "sensor_msgs/msg/Image"))
        ok, png = cv2.imencode(".png", rgb[:, :, ::-1])
        Compressed = ts.types["sensor_msgs/msg/CompressedImage"]
        msg = Compressed(header=_image_msg(ts, rgb, "rgb8").header, format="png",
                         data=np.frombuffer(png.tobytes(), np.uint8))
        writer.write(comp, 10, ts.serialize_cdr(msg, "sensor_msgs/msg/CompressedImage"))
        String = ts.types["std_msgs/msg/String"]
        writer.write(other, 11, ts.serialize_cdr(String(data="hi"), "std_msgs/msg/String"))
    images = D.read_rosbag_images(bag)
    assert [n.split("@")[0] for n, _ in images] == ["/camera/image_raw"] * 3 + \
        ["/camera/image_raw/compressed"]
    assert np.array_equal(images[0][1], rgb) and np.array_equal(images[1][1], rgb)
    assert np.array_equal(images[2][1], grey) and np.array_equal(images[3][1], rgb)
    only_raw = D.read_rosbag_images(bag, topic="/camera/image_raw", every_n=2)
    assert len(only_raw) == 2
    with pytest.raises(ValueError, match="no image topic /nope"):
        D.read_rosbag_images(bag, topic="/nope")


def test_photo_views_are_deterministic() -> None:
    photos = D.read_sample_photos(max_side=320)[:2]
    views, names = D.photo_views(photos, 64, "crops")
    again, _ = D.photo_views(photos, 64, "crops")
    assert views.shape == (28, 3, 64, 64) and views.dtype == torch.uint8
    assert torch.equal(views, again) and names[0].endswith("#center")
    center, _ = D.photo_views(photos, 64, "center")
    assert len(center) == 2


def test_tensor_batches_shard_and_repeat() -> None:
    x = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 4, 4).contiguous()
    y = torch.arange(10)

    def labels(rank: int, world: int, epoch: int) -> list[int]:
        b = D.TensorBatches(x, y, size=4, batch_size=3, shuffle=True, seed=5, rank=rank,
                            world=world)
        b.set_epoch(epoch)
        return [int(v) for _, lab in b for v in lab]

    assert labels(0, 1, 0) == labels(0, 1, 0) != labels(0, 1, 1)
    a, b = labels(0, 2, 0), labels(1, 2, 0)
    assert len(a) == len(b) == 5 and sorted(a + b) == list(range(10))


def test_augmented_batches_have_the_asked_size() -> None:
    x = torch.randint(0, 255, (6, 1, 28, 28), dtype=torch.uint8)
    batches = D.TensorBatches(x, None, size=64, batch_size=4, shuffle=True, augment="strong",
                              min_scale=0.5)
    shapes = [tuple(b.shape) for b, _ in batches]
    assert shapes == [(4, 1, 64, 64), (2, 1, 64, 64)]
    photos = D.PhotoBatches(D.read_sample_photos(max_side=200)[:2], size=32, batch_size=3,
                            steps=2)
    out = [b for b, _ in photos]
    assert len(out) == 2 and out[0].shape == (3, 3, 32, 32) and float(out[0].max()) <= 255
