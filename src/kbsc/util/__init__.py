"""Small shared helpers: registries, data directory, atomic files, manifests, hashing, progress."""

from kbsc.util.lazy import lazy_exports
from kbsc.util.progress import progress as progress  # eager: the name shadows its (cheap) module

# public name → the module that defines it, imported on first access (PEP 562)
_EXPORTS = {
    "kbsc.util.cbr": ("MAX_CBR", "cbr_label", "cbr_to_k", "cbr_value"),
    "kbsc.util.hashing": ("hash_array", "hash_bytes", "hash_file", "hash_obj"),
    "kbsc.util.io": ("atomic_write_bytes", "atomic_write_json", "atomic_write_text", "read_json"),
    "kbsc.util.manifest": ("Manifest", "check_manifest", "read_manifest", "write_manifest"),
    "kbsc.util.paths": ("data_dir",),
    "kbsc.util.registry": ("Registry",),
}
__getattr__, __dir__, _lazy_names = lazy_exports(__name__, _EXPORTS)
__all__ = sorted([*_lazy_names, "progress"])
