"""kbsc.data: datasets (synthetic100, cifar100, image folder), the CIFAR python format, splits."""

from kbsc.data import cifar100, folder, synthetic_dataset  # noqa: F401  (register the datasets)
from kbsc.data.base import Dataset, ImageSet
from kbsc.data.cifar100 import Cifar100Dataset
from kbsc.data.cifar_format import CIFAR_FILES, read_cifar_split, write_cifar_folder
from kbsc.data.folder import ImageFolderDataset
from kbsc.data.registry import DATASETS, get_dataset
from kbsc.data.safe_pickle import RestrictedUnpickler, safe_load, safe_loads
from kbsc.data.splits import sender_receiver_split, train_validation_split
from kbsc.data.synthetic import GENERATOR_VERSION, generate_synthetic100
from kbsc.data.synthetic_dataset import Synthetic100Dataset, synthetic_cache_dir

__all__ = [
    "CIFAR_FILES",
    "DATASETS",
    "GENERATOR_VERSION",
    "Cifar100Dataset",
    "Dataset",
    "ImageFolderDataset",
    "ImageSet",
    "RestrictedUnpickler",
    "Synthetic100Dataset",
    "generate_synthetic100",
    "get_dataset",
    "read_cifar_split",
    "safe_load",
    "safe_loads",
    "sender_receiver_split",
    "synthetic_cache_dir",
    "train_validation_split",
    "write_cifar_folder",
]
