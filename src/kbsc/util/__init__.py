"""Small shared helpers: registries, data directory, atomic files, manifests, hashing, progress."""

from kbsc.util.hashing import hash_array, hash_bytes, hash_file, hash_obj
from kbsc.util.io import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from kbsc.util.manifest import Manifest, check_manifest, read_manifest, write_manifest
from kbsc.util.paths import data_dir
from kbsc.util.progress import progress
from kbsc.util.registry import Registry

__all__ = [
    "Manifest",
    "Registry",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_manifest",
    "data_dir",
    "hash_array",
    "hash_bytes",
    "hash_file",
    "hash_obj",
    "progress",
    "read_json",
    "read_manifest",
    "write_manifest",
]
