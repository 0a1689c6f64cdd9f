#!/usr/bin/env bash
# Technician's provisioning of one edge box: registers it with the hub (`cityops device provision --kind edge`),
# which creates its broker credentials and ACL, and writes /etc/cityops/edge.yaml (mode 0600) from the answer plus
# the site file that describes this box's cameras.
#
#   provision.sh --id DEVICE_ID --site SITE.yaml [--lon X --lat Y] [--output FILE] [--data-dir DIR]
#                [--models-dir DIR] [--ca-file FILE] [--force]
#
# Hub and admin login come from CITYOPS_HUB_URL, CITYOPS_ADMIN_USER and CITYOPS_ADMIN_PASSWORD (prompted when
# unset). The `cityops` command needs the hub extra (`pip install 'cityops[hub]'`); set CITYOPS_CLI to run it
# another way, e.g. CITYOPS_CLI="docker run --rm -e CITYOPS_HUB_URL -e CITYOPS_ADMIN_USER -e CITYOPS_ADMIN_PASSWORD
# cityops-hub:0.1.0 cityops".
# SITE.yaml holds `cameras:` and any optional sections of the edge config (model, runtime, outbox, evidence,
# metrics, log_level); the device identity, URLs and folders are written by this script and refused there.
# The broker URL is mqtts:// when the hub's answer says devices use TLS (`mqtt_tls`, the hub's
# CITYOPS_PUBLIC_MQTT_TLS), mqtt:// otherwise. When the answer carries the broker's private CA (`mqtt_ca_pem`), it is
# written to --ca-file (default mqtt-ca.pem beside the config, mode 0600) and the config names it as mqtt_ca_file.
# Provisioning an existing device issues a new secret (the old one stops working at once): use --force.
set -euo pipefail
umask 077

die() {
    echo "provision: $*" >&2
    exit 1
}
usage() {
    sed -n '5,6p' "$0" | sed 's/^# *//' >&2
    exit 2
}

device_id= site= lon= lat= force=0 ca_file=
output=/etc/cityops/edge.yaml
data_dir=/var/lib/cityops/data
models_dir=/var/lib/cityops/models
while [[ $# -gt 0 ]]; do
    case $1 in
        --id) device_id=${2:?--id needs a device id}; shift 2 ;;
        --site) site=${2:?--site needs a file}; shift 2 ;;
        --lon) lon=${2:?--lon needs a number}; shift 2 ;;
        --lat) lat=${2:?--lat needs a number}; shift 2 ;;
        --output) output=${2:?--output needs a file}; shift 2 ;;
        --data-dir) data_dir=${2:?--data-dir needs a folder}; shift 2 ;;
        --models-dir) models_dir=${2:?--models-dir needs a folder}; shift 2 ;;
        --ca-file) ca_file=${2:?--ca-file needs a file}; shift 2 ;;
        --force) force=1; shift ;;
        -h | --help) usage ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
[[ -n $device_id ]] || die "--id is required"
[[ $device_id =~ ^[A-Za-z0-9_.-]{3,64}$ ]] || die "--id '$device_id' must be 3-64 chars of [A-Za-z0-9_.-]"
[[ -n $site ]] || die "--site is required (YAML with this box's cameras)"
[[ -r $site ]] || die "site file $site not found or unreadable"
grep -q '^cameras:' "$site" || die "$site has no top-level 'cameras:' list"
if bad=$(grep -oE '^(device_id|mqtt_url|mqtt_ca_file|hub_url|data_dir|models_dir):' "$site"); then
    die "$site must not set $(echo "$bad" | tr '\n' ' ')(this script writes them)"
fi
if [[ -n $lon || -n $lat ]]; then
    [[ -n $lon && -n $lat ]] || die "--lon and --lat go together"
fi
if [[ -e $output && $force -ne 1 ]]; then
    die "$output exists; --force re-provisions (issues a new device secret, the old one stops working)"
fi
python=$(command -v python3 || true)
[[ -n $python ]] || die "python3 not found (needed to read the hub's JSON answer)"
read -r -a cli <<<"${CITYOPS_CLI:-cityops}"
command -v "${cli[0]}" >/dev/null || die "${cli[0]} not found; install 'cityops[hub]' or set CITYOPS_CLI"

[[ -n ${CITYOPS_HUB_URL:-} ]] || die "set CITYOPS_HUB_URL to the hub's URL (e.g. https://hub.example.org)"
if [[ -z ${CITYOPS_ADMIN_PASSWORD:-} ]]; then
    read -r -s -p "Hub admin password for ${CITYOPS_ADMIN_USER:-admin}: " CITYOPS_ADMIN_PASSWORD
    echo >&2
fi
export CITYOPS_HUB_URL CITYOPS_ADMIN_PASSWORD
export CITYOPS_ADMIN_USER=${CITYOPS_ADMIN_USER:-admin}

args=(device provision --id "$device_id" --kind edge --json)
[[ -z $lon ]] || args+=(--lon "$lon" --lat "$lat")
answer=$("${cli[@]}" "${args[@]}") || die "the hub did not provision $device_id (see the message above)"

# The answer's secret goes straight into the file; JSON strings are valid YAML double-quoted scalars.
out_dir=$(dirname "$output")
install -d -m 0750 "$out_dir"
ca_file=${ca_file:-$out_dir/mqtt-ca.pem}
[[ $ca_file == /* ]] || ca_file=$PWD/$ca_file # the agent resolves relative paths against the config's folder
install -d -m 0750 "$(dirname "$ca_file")"
tmp=$(mktemp "$out_dir/.edge.yaml.XXXXXX")
tmp_ca=$(mktemp "$(dirname "$ca_file")/.mqtt-ca.pem.XXXXXX")
trap 'rm -f "$tmp" "$tmp_ca"' EXIT
read -r -d '' render <<'PY' || true
import json
import sys
from urllib.parse import quote

device_id, data_dir, models_dir, ca_file, tmp_ca = sys.argv[1:6]
answer = json.loads(sys.stdin.read())
missing = [k for k in ("mqtt_host", "mqtt_port", "username", "password", "hub_url") if not answer.get(k)]
if missing:
    sys.exit(f"provision: the hub's answer lacks {', '.join(missing)}")
tls, ca_pem = answer.get("mqtt_tls") is True, answer.get("mqtt_ca_pem")
if ca_pem and (not tls or "-----BEGIN CERTIFICATE-----" not in ca_pem):
    sys.exit("provision: the hub's mqtt_ca_pem needs mqtt_tls true and a PEM certificate")
user, password = quote(str(answer["username"]), safe=""), quote(str(answer["password"]), safe="")
scheme = "mqtts" if tls else "mqtt"
values = {
    "device_id": device_id,
    "mqtt_url": f"{scheme}://{user}:{password}@{answer['mqtt_host']}:{answer['mqtt_port']}",
    "hub_url": str(answer["hub_url"]),
    "data_dir": data_dir,
    "models_dir": models_dir,
}
if ca_pem:
    with open(tmp_ca, "w", encoding="ascii") as handle:
        handle.write(ca_pem if ca_pem.endswith("\n") else ca_pem + "\n")
    values["mqtt_ca_file"] = ca_file
print(f"# Written by provision.sh for {device_id}; holds the device secret (keep mode 0600).")
for key, value in values.items():
    print(f"{key}: {json.dumps(value)}")
print()
with open(3, encoding="utf-8") as site:
    sys.stdout.write(site.read())
PY
"$python" -c "$render" "$device_id" "$data_dir" "$models_dir" "$ca_file" "$tmp_ca" <<<"$answer" 3<"$site" >"$tmp" ||
    die "unexpected answer from the hub"
chmod 0600 "$tmp" "$tmp_ca"
# The agent runs as user cityops (systemd unit and image): it must read the files, nobody else.
if id cityops >/dev/null 2>&1 && [[ $EUID -eq 0 ]]; then
    chown cityops:cityops "$tmp" "$tmp_ca"
fi
# The CA first: the config that names it must never be in place without it.
if [[ -s $tmp_ca ]]; then
    mv -f "$tmp_ca" "$ca_file"
    echo "provision: wrote the broker's CA certificate to $ca_file"
fi
mv -f "$tmp" "$output"
rm -f "$tmp_ca"
trap - EXIT
echo "provision: wrote $output for $device_id; start the agent: systemctl restart cityops-edge"
