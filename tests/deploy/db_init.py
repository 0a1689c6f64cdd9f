"""Run deploy/cloud/db-init/*.sql as the TimescaleDB image's entrypoint runs them: psql, ON_ERROR_STOP, no psqlrc,
the password in the environment. Role names are replaced by test-unique ones: roles are server-wide, and a test
must never touch a real cityops_hub or grafana_reader on the same server."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

DB_INIT = Path(__file__).resolve().parents[2] / "deploy" / "cloud" / "db-init"
HUB_ROLE_SCRIPT = DB_INIT / "05-hub-role.sql"
GRAFANA_ROLE_SCRIPT = DB_INIT / "10-grafana-role.sql"
PASSWORD_VARIABLES = ("HUB_DB_PASSWORD", "GRAFANA_DB_PASSWORD")


def run_init_script(
    url: str, script: Path, roles: Mapping[str, str], passwords: Mapping[str, str | None]
) -> subprocess.CompletedProcess[str]:
    """`roles`: real name -> the test's name; `passwords`: variable -> value (None: unset)."""
    psql = shutil.which("psql")
    assert psql is not None, f"psql runs {script.name} (apt install postgresql-client)"
    env = {k: v for k, v in os.environ.items() if k not in PASSWORD_VARIABLES}
    env.update({name: value for name, value in passwords.items() if value is not None})
    text = script.read_text(encoding="utf-8")
    for real, renamed in roles.items():
        text = text.replace(real, renamed)
    return subprocess.run(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", "-"],
        input=text, capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip
