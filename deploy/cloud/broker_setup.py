"""One-shot broker setup for container deployments (compose service `broker-setup`, Kubernetes Job).

Does what `cityops stack up` does for its own broker (cloud_hub.stack.mosquitto._configure): default ACL access
deny, and the hub identity from CITYOPS_MQTT_URL with its role. Idempotent: run it at every deployment, so a changed
ACL set in a new release reaches an existing broker. The broker admin comes from BROKER_ADMIN_URL
(mqtt://cityops-admin:PASSWORD@broker:1883, the user `mosquitto_ctrl dynsec init` created).
"""

from __future__ import annotations

import os
import sys
import time

from cloud_hub.broker.dynsec import BrokerAdminError, DynsecAdmin
from cloud_hub.core.config import HubSettings, MqttEndpoint


def main() -> int:
    admin_url = os.environ.get("BROKER_ADMIN_URL")
    if not admin_url:
        print("broker-setup: set BROKER_ADMIN_URL=mqtt://cityops-admin:PASSWORD@HOST:PORT", file=sys.stderr)
        return 2
    settings = HubSettings()
    hub = settings.mqtt
    if not hub.username or not hub.password:
        print("broker-setup: CITYOPS_MQTT_URL must carry the hub's username and password", file=sys.stderr)
        return 2
    deadline = time.monotonic() + float(os.environ.get("BROKER_WAIT_S", "60"))
    while True:
        # The broker may still be starting (Kubernetes starts the Job and the broker together).
        try:
            with DynsecAdmin.connect(MqttEndpoint(admin_url)) as admin:
                admin.set_default_deny()
                admin.ensure_hub_identity(hub.username, hub.password, settings.share_group)
            break
        except (BrokerAdminError, OSError) as exc:
            if time.monotonic() > deadline:
                print(f"broker-setup: broker not configured: {exc}", file=sys.stderr)
                return 1
            time.sleep(2)
    print(f"broker-setup: default deny set; hub identity {hub.username!r} (share group {settings.share_group!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
