"""ONNX export and the torch-free ONNX Runtime parts: same outputs as PyTorch, metadata
that lets a robot on one runtime and an edge on the other check each other."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from bottlefit_ros.onnx_export import PARTS, export_split_model, main
from bottlefit_ros.onnx_runtime import OnnxPart, execution_providers
from bottlefit_ros.runtime import ModelSpec
from bottlefit_ros.sources import sample_photos_dir

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def default_model():
    return ModelSpec().build()


@pytest.fixture(scope='module')
def exported(default_model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('onnx')
    export_split_model(default_model, out)
    return out


def _samples() -> list[np.ndarray]:
    paths = sorted(Path(sample_photos_dir()).glob('*.jpg'))
    assert paths, 'no sample photos'
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]


def test_export_writes_every_part_with_the_torch_fingerprint(default_model, exported):
    for part in PARTS:
        loaded = OnnxPart(exported / f'{part}.onnx', threads=1)
        assert loaded.part == part
        assert loaded.model == default_model.info.model
        assert loaded.split == default_model.info.split
        assert loaded.head_fingerprint == default_model.head_fingerprint
        assert loaded.head_output_shape == default_model.info.head_output_shape
        assert loaded.input_size == default_model.info.input_size
        assert len(loaded.labels) == loaded.num_classes == 1000


def test_onnx_runtime_matches_pytorch_on_sample_photos(default_model, exported):
    head, tail, whole = (OnnxPart(exported / f'{p}.onnx', threads=1) for p in PARTS)
    pre = head.preprocessor()
    for rgb in _samples():
        x = pre(rgb)
        with torch.no_grad():
            z_ref = default_model.head(torch.from_numpy(x)).numpy()
            logits_ref = default_model(torch.from_numpy(x)).numpy()
        z = head.run(x)
        assert z.shape == (1, *head.head_output_shape)
        np.testing.assert_allclose(z, z_ref, atol=1e-4)
        np.testing.assert_allclose(tail.run(z), logits_ref, atol=1e-3)
        np.testing.assert_allclose(whole.run(x), logits_ref, atol=1e-3)
        assert int(whole.run(x).argmax()) == int(logits_ref.argmax())


def test_tail_takes_a_batch(exported):
    tail = OnnxPart(exported / 'tail.onnx', threads=1)
    z = np.random.default_rng(0).normal(size=(3, *tail.head_output_shape)).astype(np.float32)
    batched = tail.run(z)
    assert batched.shape == (3, tail.num_classes)
    np.testing.assert_allclose(batched[1:2], tail.run(z[1:2]), atol=1e-4)


def test_preprocessing_is_the_torch_preprocessing(default_model, exported):
    rgb = _samples()[0]
    ours = OnnxPart(exported / 'head.onnx', threads=1).preprocessor()(rgb)
    np.testing.assert_array_equal(ours, default_model.preprocessor(rgb).numpy())


def test_refuses_unknown_providers_and_foreign_files(exported, tmp_path):
    with pytest.raises(ValueError, match='must be one of'):
        execution_providers('tpu')
    if 'CUDAExecutionProvider' not in __import__('onnxruntime').get_available_providers():
        with pytest.raises(ValueError, match='lacks'):
            OnnxPart(exported / 'head.onnx', device='cuda')
    import onnx

    foreign = onnx.load(str(exported / 'head.onnx'))
    del foreign.metadata_props[:]
    onnx.save(foreign, str(tmp_path / 'foreign.onnx'))
    with pytest.raises(ValueError, match='not a bottlefit_ros export'):
        OnnxPart(tmp_path / 'foreign.onnx')
    with pytest.raises(FileNotFoundError):
        OnnxPart(tmp_path / 'missing.onnx')


def test_cli_exports_a_natural_split_head(tmp_path, capsys):
    assert main(['--out', str(tmp_path), '--bottleneck-channels', '0', '--parts', 'head']) == 0
    head = OnnxPart(tmp_path / 'head.onnx')
    assert head.kind == 'natural' and head.bottleneck_channels == 0
    assert 'head fingerprint' in capsys.readouterr().out
    assert main(['--out', str(tmp_path), '--parts', 'nose']) == 2


def test_runtime_side_imports_no_torch():
    code = ('import sys, bottlefit_ros.onnx_runtime, bottlefit_ros.preprocess; '
            'sys.exit(1 if "torch" in sys.modules else 0)')
    proc = subprocess.run([sys.executable, '-P', '-c', code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr or 'torch was imported'
