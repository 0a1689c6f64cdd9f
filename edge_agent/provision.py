"""`cityops edge provision`: a box fetches its own configuration from the hub with a one-time token.

The technician's app shows a token (and its `cityops:2:` QR code); the box redeems it once
(POST /api/v1/provisioning/redeem), which issues a new device secret, and this module writes the answer's config
file atomically, owner-only (0600 in a 0700 folder): it carries the secret. HTTPS only unless the caller allows
plain http (a lab hub), because the answer is a credential.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cityops.contract.provisioning_qr import parse_qr_v2

DEFAULT_CONFIG = Path("/etc/cityops/edge.yaml")  # deploy/jetson: cityops-edge.service reads it
REDEEM_PATH = "/api/v1/provisioning/redeem"
# Set by provisioning: a site file must not override the identity and where it connects.
IDENTITY_KEYS = ("device_id", "mqtt_url", "mqtt_ca_file", "hub_url")
AGENT_USER = "cityops"  # the systemd unit's User=


class ProvisionError(Exception):
    """A refusal with a message for the technician (exit status 1)."""


@dataclass(frozen=True, slots=True)
class Target:
    hub_url: str
    token: str


def parse_qr(text: str) -> Target:
    """The hub and token of a `cityops:2:` code; ProvisionError naming what is wrong."""
    try:
        fields = parse_qr_v2(text.strip())
    except ValueError as exc:
        raise ProvisionError(str(exc)) from None
    return Target(fields["h"], fields["t"])


def check_hub_url(hub_url: str, allow_http: bool) -> str:
    """The hub URL without a trailing slash; plain http is refused unless allowed (the answer is a secret)."""
    url = hub_url.strip().rstrip("/")
    if url.startswith("http://"):
        if not allow_http:
            raise ProvisionError(
                f"refusing plain http for {url}: the answer carries the device secret; use https, or --allow-http "
                "on a trusted lab network"
            )
    elif not url.startswith("https://"):
        raise ProvisionError(f"hub URL {hub_url!r} must start with https:// (or http:// with --allow-http)")
    return url


def redeem(target: Target, allow_http: bool, timeout_s: float = 30.0, cafile: str | None = None) -> dict[str, Any]:
    """POST the token to the hub; the answer (DeviceProvisioned) or ProvisionError with the hub's problem detail."""
    url = check_hub_url(target.hub_url, allow_http) + REDEEM_PATH
    request = urllib.request.Request(
        url,
        data=json.dumps({"token": target.token}).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    context = ssl.create_default_context(cafile=cafile) if url.startswith("https://") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=context) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise ProvisionError(f"the hub refused the token ({exc.code}): {_problem_detail(exc)}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ProvisionError(f"cannot reach the hub at {target.hub_url}: {reason}") from None
    except ValueError as exc:
        raise ProvisionError(f"the hub's answer is not JSON: {exc}") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("config_yaml"), str):
        raise ProvisionError("the hub's answer lacks config_yaml; is the URL the CityOps hub?")
    return answer


def _problem_detail(exc: urllib.error.HTTPError) -> str:
    body = exc.read().decode("utf-8", "replace")
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        detail = None
    return str(detail) if detail else (body.strip()[:300] or exc.reason)


def build_config(answer: dict[str, Any], config_path: Path, site: dict[str, Any] | None) -> tuple[dict, str | None]:
    """The config to write and the broker CA's PEM (if the hub runs a private CA); the CA goes beside the config.
    A site file adds the cameras and optional sections, never the identity."""
    config = yaml.safe_load(answer["config_yaml"])
    if not isinstance(config, dict):
        raise ProvisionError("the hub's config_yaml is not a mapping")
    ca_pem = answer.get("mqtt_ca_pem")
    if ca_pem:
        config["mqtt_ca_file"] = str(config_path.parent / "mqtt-ca.pem")
    if site:
        clash = [k for k in IDENTITY_KEYS if k in site]
        if clash:
            raise ProvisionError(f"the site file must not set {', '.join(clash)} (provisioning writes them)")
        config.update(site)
    return config, ca_pem


def write_private(path: Path, text: str) -> None:
    """Atomic owner-only write: a temp file 0600 in the same folder, then rename over the target. A folder made here
    is 0700 (and the agent's); an existing one is left as it is (never tighten /tmp or someone's home)."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
        os.chmod(path.parent, 0o700)  # mkdir's mode is masked by the umask
        _give_to_agent(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    _give_to_agent(tmp)
    os.replace(tmp, path)


def _give_to_agent(path: Path) -> None:
    """Run as root on the box, the files belong to the agent's user (the unit's User=), still owner-only."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    import pwd  # POSIX only, like the boxes

    try:
        user = pwd.getpwnam(AGENT_USER)
    except KeyError:
        return
    os.chown(path, user.pw_uid, user.pw_gid)


def provision(
    target: Target,
    config_path: Path,
    *,
    allow_http: bool = False,
    force: bool = False,
    site: dict[str, Any] | None = None,
    cafile: str | None = None,
) -> dict[str, Any]:
    """Redeem the token and write the config (and CA); returns the config written. Refuses to overwrite an existing
    config unless `force`, before the token is spent."""
    if config_path.exists() and not force:
        raise ProvisionError(f"{config_path} exists; --force replaces it (the hub issues a new device secret)")
    check_hub_url(target.hub_url, allow_http)
    answer = redeem(target, allow_http, cafile=cafile)
    config, ca_pem = build_config(answer, config_path, site)
    if ca_pem:  # first: a config never names a CA that is not there
        write_private(Path(config["mqtt_ca_file"]), ca_pem if ca_pem.endswith("\n") else ca_pem + "\n")
    header = f"# Provisioned from {target.hub_url} for {config.get('device_id')}; holds the device secret (0600).\n"
    write_private(config_path, header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return config
