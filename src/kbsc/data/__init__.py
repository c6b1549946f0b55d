"""kbsc.data: datasets (synthetic100, cifar100, image folder), the CIFAR python format, splits."""

from kbsc.util.lazy import lazy_exports

# public name → the module that defines it, imported on first access (PEP 562)
_EXPORTS = {
    "kbsc.data.base": ("Dataset", "ImageSet"),
    "kbsc.data.cifar100": ("Cifar100Dataset",),
    "kbsc.data.cifar_format": ("CIFAR_FILES", "read_cifar_split", "write_cifar_folder"),
    "kbsc.data.folder": ("ImageFolderDataset",),
    "kbsc.data.registry": ("DATASETS", "get_dataset"),
    "kbsc.data.safe_pickle": ("RestrictedUnpickler", "safe_load", "safe_loads"),
    "kbsc.data.splits": ("sender_receiver_split", "train_validation_split"),
    "kbsc.data.synthetic": ("GENERATOR_VERSION", "generate_synthetic100"),
    "kbsc.data.synthetic_dataset": ("Synthetic100Dataset", "synthetic_cache_dir"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
