"""`cmd model_update` {name, url, sha256}: download, verify, load in a fresh detector, and only then swap.

The download streams to a temporary file beside its destination and is renamed only once its sha256 matches, so
a half-downloaded or tampered file is never loaded and never left where a restart would pick it up. The device's
credentials are sent only to the hub's own origin.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import httpx
from pydantic import Field, ValidationError

from cityops.contract.model_release import ReleaseSignatureError, verify_release
from edge_agent.config import ModelUpdatesConfig, StrictModel


class ModelUpdateArgs(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    url: Annotated[str, Field(pattern=r"^https?://")]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    # The signed release (cityops.contract.model_release): the hub signs name, version, sha256 and size.
    version: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    size: Annotated[int, Field(ge=0)] | None = None
    signature: str | None = None
    key_id: str | None = None


def check_release(args: ModelUpdateArgs, config: ModelUpdatesConfig) -> str:
    """Before anything is downloaded: plain http refused unless allowed, and the release signed by a key this box
    trusts. Returns how it was trusted (for the log and the command's answer); ValueError saying why not."""
    if urlsplit(args.url).scheme == "http" and not config.allow_http:
        raise ValueError(f"{args.url}: model downloads over plain http are refused (model_updates.allow_http)")
    if args.signature is None:
        if config.allow_unsigned:
            return "unsigned (model_updates.allow_unsigned)"
        raise ReleaseSignatureError("the model release is not signed (the hub signs every release it sends)")
    if args.version is None or args.size is None:
        raise ReleaseSignatureError("the model release has no version and size to verify its signature against")
    key = verify_release(config.trusted_keys, args.signature, args.name, args.version, args.sha256, args.size)
    return f"signed by key {key}"


def parse_args(args: dict) -> ModelUpdateArgs:
    try:
        return ModelUpdateArgs.model_validate(args)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ValueError(f"bad model_update args: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def same_origin(url: str, hub_url: str) -> bool:
    a, b = urlsplit(url), urlsplit(hub_url)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def download_verified(
    client: httpx.Client, url: str, sha256: str, dest: Path, auth: tuple[str, str] | None, max_bytes: int
) -> Path:
    """Stream `url` to `dest` (atomically, fsynced) if its sha256 matches; raises RuntimeError otherwise."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd, tmp_name = tempfile.mkstemp(prefix=".download-", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            try:
                with client.stream("GET", url, auth=auth) as response:
                    if response.status_code != 200:
                        raise RuntimeError(f"GET {url}: HTTP {response.status_code}")
                    for chunk in response.iter_bytes(1 << 20):
                        size += len(chunk)
                        if size > max_bytes:
                            raise RuntimeError(f"GET {url}: larger than {max_bytes} bytes; refused")
                        digest.update(chunk)
                        fh.write(chunk)
            except httpx.HTTPError as exc:
                raise RuntimeError(f"GET {url}: {type(exc).__name__}: {exc}") from exc
            fh.flush()
            os.fsync(fh.fileno())
        actual = digest.hexdigest()
        if actual != sha256:
            raise RuntimeError(f"downloaded model has sha256 {actual}, expected {sha256}; not used")
        os.replace(tmp, dest)
        return dest
    finally:
        tmp.unlink(missing_ok=True)
