#!/usr/bin/env bash
# Build a TensorRT fp16 engine from a manifest model's ONNX file, on the Jetson that will run it (an engine is
# tied to the GPU, TensorRT and JetPack version it was built with).
#
#   build-engine.sh MODEL_NAME [--models-dir DIR] [--manifest FILE] [--workspace-mib N]
#
# The ONNX file's sha256 is checked against models/manifest.yaml first; a mismatch stops the build, so an engine
# is never made from a wrong or truncated download. The engine is written next to the model as
# <file stem>.fp16.engine (atomically: built under a temporary name, then renamed).
# The agent does not load this file: it runs the ONNX model through ONNX Runtime's TensorRT provider, which caches
# its own engines under <data_dir>/tensorrt-cache/ (see deploy/jetson/README.md). Use this to check and time the build.
set -euo pipefail

usage() {
    sed -n '5p' "$0" | sed 's/^# *//' >&2
    exit 2
}
die() {
    echo "build-engine: $*" >&2
    exit 1
}

[[ $# -ge 1 ]] || usage
model_name=$1
shift
models_dir=${CITYOPS_MODELS_DIR:-/var/lib/cityops/models}
manifest=${CITYOPS_MANIFEST:-/src/models/manifest.yaml}
workspace_mib=2048
while [[ $# -gt 0 ]]; do
    case $1 in
        --models-dir) models_dir=${2:?--models-dir needs a folder}; shift 2 ;;
        --manifest) manifest=${2:?--manifest needs a file}; shift 2 ;;
        --workspace-mib) workspace_mib=${2:?--workspace-mib needs a number}; shift 2 ;;
        -h | --help) usage ;;
        *) die "unknown argument: $1" ;;
    esac
done
[[ $workspace_mib =~ ^[0-9]+$ ]] || die "--workspace-mib must be a whole number of MiB, got '$workspace_mib'"
[[ -r $manifest ]] || die "manifest $manifest not found (set --manifest or CITYOPS_MANIFEST)"
trtexec=$(command -v trtexec || true)
[[ -n $trtexec ]] || trtexec=/usr/src/tensorrt/bin/trtexec
[[ -x $trtexec ]] || die "trtexec not found: run this inside the edge image or install TensorRT (JetPack)"
python=$(command -v python3 || command -v python || true)
[[ -n $python ]] || die "python3 not found (needed to read the manifest)"

# file and sha256 of the named model, read with PyYAML (present in the edge image).
entry=$("$python" - "$manifest" "$model_name" <<'PY'
import sys

import yaml

path, name = sys.argv[1], sys.argv[2]
with open(path, encoding="utf-8") as handle:
    models = (yaml.safe_load(handle) or {}).get("models") or []
for model in models:
    if model.get("name") == name:
        print(model["file"], model["sha256"])
        break
else:
    known = ", ".join(sorted(str(m.get("name")) for m in models))
    sys.exit(f"model {name!r} is not in {path}; known: {known}")
PY
) || die "cannot read model '$model_name' from $manifest"
read -r onnx_file expected_sha <<<"$entry"

onnx_path=$models_dir/$onnx_file
[[ -r $onnx_path ]] || die "$onnx_path not found; put the ONNX file from the manifest's source_url there first"
echo "build-engine: checking sha256 of $onnx_path"
actual_sha=$(sha256sum "$onnx_path" | cut -d' ' -f1)
if [[ $actual_sha != "$expected_sha" ]]; then
    die "sha256 mismatch for $onnx_path: manifest says $expected_sha, file is $actual_sha (re-download it)"
fi

engine_path=${onnx_path%.onnx}.fp16.engine
tmp_engine=$engine_path.partial
trap 'rm -f "$tmp_engine"' EXIT
echo "build-engine: building $engine_path (fp16, workspace ${workspace_mib} MiB); this takes minutes"
"$trtexec" --onnx="$onnx_path" --saveEngine="$tmp_engine" --fp16 \
    --memPoolSize=workspace:"$workspace_mib" --skipInference
[[ -s $tmp_engine ]] || die "trtexec finished without writing $tmp_engine"
mv -f "$tmp_engine" "$engine_path"
trap - EXIT
echo "build-engine: wrote $engine_path"
