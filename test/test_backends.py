"""Both backends behind one interface: same labels, same fingerprint, clear refusals."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from bottlefit_ros.backends import (OnnxEngine, TorchEngine, default_onnx_dir, load_engine)
from bottlefit_ros.onnx_export import main as export_main
from bottlefit_ros.runtime import ModelSpec
from bottlefit_ros.sources import sample_photos_dir

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def onnx_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('onnx_root')
    mp = pytest.MonkeyPatch()
    mp.setenv('BOTTLEFIT_ONNX_DIR', str(root))
    for channels in (str(ModelSpec().bottleneck_channels), '0'):     # the default, natural
        assert export_main(['--bottleneck-channels', channels]) == 0
    yield root
    mp.undo()


def _photos() -> list[np.ndarray]:
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
            for p in sorted(Path(sample_photos_dir()).glob('*.jpg'))]


@pytest.mark.parametrize('channels', [ModelSpec().bottleneck_channels, 0])
def test_torch_and_onnxruntime_agree(onnx_root, channels):
    spec = ModelSpec(bottleneck_channels=channels)
    assert (default_onnx_dir(spec) / 'head.onnx').is_file()
    ref = load_engine(spec, backend='torch', threads=1)
    ort = load_engine(spec, backend='onnxruntime', threads=1)
    assert isinstance(ref, TorchEngine) and isinstance(ort, OnnxEngine)
    assert ort.head_fingerprint == ref.head_fingerprint
    assert ort.labels == ref.labels
    assert ort.info.head_output_shape == ref.info.head_output_shape
    assert ort.info.split == ref.info.split
    pre = ort.preprocessor()
    for rgb in _photos():
        x = pre(rgb)
        z = ort.run('head', x)
        np.testing.assert_allclose(z, ref.run('head', x), rtol=1e-4, atol=1e-3)
        # A robot on one backend, an edge on the other:
        assert int(ref.run('tail', z).argmax()) == int(ort.run('whole', x).argmax())
        assert int(ort.run('tail', ref.run('head', x)).argmax()) == \
            int(ref.run('whole', x).argmax())


def test_engine_holds_only_its_parts(onnx_root):
    robot = load_engine(ModelSpec(), backend='onnxruntime', parts=('head',))
    with pytest.raises(ValueError, match="not 'tail'"):
        robot.run('tail', np.zeros((1, *robot.info.head_output_shape), np.float32))
    robot_torch = load_engine(ModelSpec(), backend='torch', parts=('head',))
    assert set(robot_torch._nets) == {'head'}


def test_onnxruntime_refuses_a_missing_or_foreign_export(onnx_root, tmp_path):
    with pytest.raises(ValueError, match='onnx_export'):
        load_engine(ModelSpec(weights=str(tmp_path)), backend='onnxruntime')
    with pytest.raises(ValueError, match='needs weights'):
        load_engine(ModelSpec(weights=''), backend='onnxruntime')
    natural = default_onnx_dir(ModelSpec(bottleneck_channels=0))
    # a C=0 export asked for as the default's C:
    with pytest.raises(ValueError, match=f'with {ModelSpec().bottleneck_channels}$'):
        load_engine(ModelSpec(weights=str(natural)), backend='onnxruntime')
    with pytest.raises(ValueError, match='backend must be one of'):
        load_engine(ModelSpec(), backend='tflite')


def test_onnxruntime_engine_imports_no_torch(onnx_root):
    channels = ModelSpec().bottleneck_channels
    code = ('import sys\n'
            'from bottlefit_ros.backends import load_engine\n'
            'from dataclasses import dataclass\n'
            '@dataclass\n'
            'class S:\n'
            '    model: str = "efficientnet_lite0"; split: str = ""\n'
            f'    bottleneck_channels: int = {channels}; weights: str = "default"\n'
            'e = load_engine(S(), backend="onnxruntime", parts=("head",))\n'
            'print(e.head_fingerprint)\n'
            'sys.exit(1 if "torch" in sys.modules else 0)\n')
    proc = subprocess.run([sys.executable, '-P', '-c', code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr or 'torch was imported'
    assert proc.stdout.strip() == load_engine(ModelSpec(), backend='onnxruntime',
                                              parts=('head',)).head_fingerprint
