"""The broker's dynamic security as the device tests see it: an in-memory record of each device's password."""

from __future__ import annotations


class RecordingBrokerAdmin:
    """Remembers each device's current password; `fail` makes every provisioning refused, as a broker down would."""

    def __init__(self, fail: bool = False) -> None:
        self.passwords: dict[str, str] = {}
        self.fail = fail

    def available(self) -> bool:
        return True

    def provision_device(self, device_id: str, password: str) -> None:
        if self.fail:
            raise RuntimeError("broker refused")
        self.passwords[device_id] = password

    def remove_device(self, device_id: str) -> None:
        self.passwords.pop(device_id, None)
