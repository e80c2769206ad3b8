"""BottleFit training, ROS-free: the two-stage strategy, its baselines, evaluation.

After Matsubara et al., "BottleFit: Learning Compressed Representations in Deep
Neural Networks for Effective and Efficient Split Computing", IEEE WoWMoM 2022
(arXiv 2201.02693). Stage 1, head distillation: only the injected encoder + decoder
train, to reproduce the teacher's outputs at the split point and every later stage
(label-free, the teacher's layers frozen). Stage 2, fine-tuning with a KD or
cross-entropy loss. Baselines: naive end-to-end cross-entropy training of the same
student, the natural split with 8-bit quantization, JPEG offloading at matched bytes,
and an autoencoder at a natural split.

Command line: ``python -m bottlefit_ros.training --help`` (train, evaluate, grid,
report, export); configurations in ``config/training/``; see ``docs/training.md``.
Runs on the CPU, on one GPU (bf16 autocast) and on several through ``torchrun``
(DistributedDataParallel). Nothing here imports rclpy.
"""

from .autoencoder import AutoencoderSplit
from .config import (DataConfig, EvalConfig, ModelConfig, OptimConfig, TrainConfig,
                     load_config)
from .data import (ImageFolderDataset, PhotoBatches, TensorBatches, load_fashion_mnist,
                   photo_views, read_idx, read_image_folder, read_rosbag_images,
                   read_sample_photos, write_idx)
from .evaluate import (evaluate_jpeg_offload, evaluate_split, head_cost, match_jpeg_quality)
from .losses import feature_distillation_loss, kd_loss

__all__ = [
    "AutoencoderSplit",
    "DataConfig",
    "EvalConfig",
    "ImageFolderDataset",
    "ModelConfig",
    "OptimConfig",
    "PhotoBatches",
    "TensorBatches",
    "TrainConfig",
    "evaluate_jpeg_offload",
    "evaluate_split",
    "feature_distillation_loss",
    "head_cost",
    "kd_loss",
    "load_config",
    "load_fashion_mnist",
    "match_jpeg_quality",
    "photo_views",
    "read_idx",
    "read_image_folder",
    "read_rosbag_images",
    "read_sample_photos",
    "write_idx",
]
