"""Signed model releases: what the hub signs and every box verifies before it loads a new model.

The hub signs a release statement (name, version, sha256 and size of the file) with its Ed25519 key; the box holds
the hub's public key from provisioning (`model_updates.trusted_keys`) and refuses a `model_update` whose signature
does not verify, before it downloads anything. The sha256 is then checked on the downloaded bytes, so the file is
the one the hub signed. Ed25519 signatures are deterministic: the hub signs when it sends, nothing is stored.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

STATEMENT_TAG = "cityops-model-release/1"


class ReleaseSignatureError(ValueError):
    """The release is unsigned, signed by a key the box does not trust, or its signature does not verify."""


def release_statement(name: str, version: str, sha256: str, size: int) -> bytes:
    """The exact bytes signed: one field a line, so no field can run into the next."""
    for field, value in (("name", name), ("version", version), ("sha256", sha256)):
        if not value or "\n" in value:
            raise ValueError(f"release {field} {value!r} must be one non-empty line")
    if size < 0:
        raise ValueError(f"release size must be >= 0, got {size}")
    return f"{STATEMENT_TAG}\n{name}\n{version}\n{sha256.lower()}\n{size}\n".encode()


def public_key_text(key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key, base64: what provisioning gives the box."""
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode("ascii")


def key_id(public_key: str) -> str:
    """A short name for a public key (its sha256, 16 hex digits), carried with each signature."""
    return hashlib.sha256(base64.b64decode(public_key)).hexdigest()[:16]


def sign_release(key: Ed25519PrivateKey, name: str, version: str, sha256: str, size: int) -> tuple[str, str]:
    """(signature in base64, key id) for the release."""
    signature = key.sign(release_statement(name, version, sha256, size))
    return base64.b64encode(signature).decode("ascii"), key_id(public_key_text(key.public_key()))


def verify_release(
    trusted_keys: list[str], signature: str | None, name: str, version: str, sha256: str, size: int
) -> str:
    """The key id of the trusted key that signed the release; ReleaseSignatureError saying why otherwise."""
    if not signature:
        raise ReleaseSignatureError("the model release is not signed")
    if not trusted_keys:
        raise ReleaseSignatureError("this box trusts no model signing key (model_updates.trusted_keys is empty)")
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except ValueError:
        raise ReleaseSignatureError("the release signature is not base64") from None
    statement = release_statement(name, version, sha256, size)
    for text in trusted_keys:
        try:
            Ed25519PublicKey.from_public_bytes(base64.b64decode(text)).verify(raw_signature, statement)
        except (InvalidSignature, ValueError):
            continue
        return key_id(text)
    raise ReleaseSignatureError(
        f"the signature of {name} {version} (sha256 {sha256[:12]}) matches none of the {len(trusted_keys)} "
        "trusted model signing key(s)"
    )
