#!/usr/bin/env bash
# Provisioning of one edge box, run ON the box by the technician: redeems the one-time token the technician app
# shows (add-a-box wizard, or POST /api/v1/devices/{id}/provisioning-tokens) with `cityops edge provision`, which
# fetches the box's configuration from the hub, writes /etc/cityops/edge.yaml (mode 0600, a new folder 0700, owned
# by the agent's user) and enables and (re)starts the cityops-edge systemd unit.
#
#   provision.sh (--hub URL --token TOKEN | --qr TEXT) [--site SITE.yaml] [--config FILE] [--force]
#                [--allow-http] [--hub-ca PEM] [--no-start]
#
# SITE.yaml holds `cameras:` and any optional sections of the edge config (model, runtime, outbox, evidence,
# metrics, log_level); the identity, URLs and secret come from the hub and are refused there. A token is single use
# and expires (30 minutes by default); a used or expired one is refused with the time it was used or expired.
# Redeeming issues a new device secret (the old one stops working at once), so an existing config is replaced only
# with --force. The agent runs from /opt/cityops/venv (README.md); set CITYOPS_CLI to run `cityops` another way.
set -euo pipefail
umask 077

die() {
    echo "provision: $*" >&2
    exit 1
}
usage() {
    sed -n '7,8p' "$0" | sed 's/^# *//' >&2
    exit 2
}

args=() start=(--systemd) have_source=0
while [[ $# -gt 0 ]]; do
    case $1 in
        --hub | --token | --qr | --site | --config | --hub-ca)
            [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value"
            [[ $1 == --token || $1 == --qr ]] && have_source=1
            args+=("$1" "$2")
            shift 2
            ;;
        --force | --allow-http) args+=("$1"); shift ;;
        --no-start) start=(--no-start); shift ;;
        -h | --help) usage ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
[[ $have_source -eq 1 ]] || die "give --hub URL --token TOKEN, or --qr TEXT (the scanned code)"
read -r -a cli <<<"${CITYOPS_CLI:-/opt/cityops/venv/bin/cityops}"
command -v "${cli[0]}" >/dev/null || die "${cli[0]} not found; install the agent (README.md) or set CITYOPS_CLI"

"${cli[@]}" edge provision "${args[@]}" "${start[@]}" || die "provisioning failed (see the message above)"
