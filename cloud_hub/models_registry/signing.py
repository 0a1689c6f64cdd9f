"""The hub's model signing key (Ed25519): every `model_update` it sends carries a signature of the release.

The key lives in a file, `model_signing_key_file` or `model-signing.key` in the models folder (shared by every
replica, like the model files themselves), PEM PKCS#8, readable by the hub alone. The first hub to need it creates
it. Boxes learn the public key when they are provisioned (`GET /api/v1/models/signing-key` shows it too).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from cloud_hub.core.config import HubSettings
from cloud_hub.models_registry.files import models_dir

log = logging.getLogger(__name__)
KEY_FILE_NAME = "model-signing.key"
_lock = threading.Lock()


def signing_key_path(settings: HubSettings) -> Path:
    return settings.model_signing_key_file or models_dir(settings) / KEY_FILE_NAME


def load_signing_key(settings: HubSettings) -> Ed25519PrivateKey:
    """The hub's key, created (mode 0600, atomically: two replicas starting together keep one) when missing."""
    path = signing_key_path(settings)
    with _lock:
        if not path.exists():
            _create(path)
        key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise RuntimeError(f"{path} holds a {type(key).__name__}, not an Ed25519 private key")
    return key


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # fails if another replica created it first: theirs is kept
        log.warning("created the model signing key %s: back it up; boxes trust its public key", path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
