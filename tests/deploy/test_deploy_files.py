"""Static checks of the deployment files (deploy/jetson, deploy/cloud): no Docker engine and no network needed.

Each check names the file and the entry at fault, so a broken manifest is found without a cluster."""

from __future__ import annotations

import functools
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloud_hub.core.config import HubSettings
from cloud_hub.stack.mosquitto import BrokerLimits

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CLOUD = DEPLOY / "cloud"
JETSON = DEPLOY / "jetson"
K8S = CLOUD / "k8s"
K8S_BASE = K8S / "base"
# Every kustomization (base and overlays): each check below runs on each of them.
KUSTOMIZATIONS = sorted(p.parent for p in K8S.rglob("kustomization.yaml"))
# The Kubernetes API version the manifests are checked against (kubernetes-validate ships its schemas).
KUBERNETES_VERSION = "1.30.0"
COMPOSE = CLOUD / "compose.yaml"
MOSQUITTO_CONF = CLOUD / "mosquitto" / "mosquitto.conf"
HEALTH_PATH = "/healthz"
SECRET_NAME = "cityops-hub-secrets"

YAML_FILES = sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))
SHELL_SCRIPTS = sorted(DEPLOY.rglob("*.sh"))


def hub_variables() -> set[str]:
    return {f"CITYOPS_{name.upper()}" for name in HubSettings.model_fields}


def stack_variables() -> set[str]:
    """The CITYOPS_* variables documented in the local stack's README (its settings table)."""
    text = (CLOUD / "local" / "README.md").read_text(encoding="utf-8")
    return set(re.findall(r"`(CITYOPS_[A-Z0-9_]+)`", text))


def load_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def expand_defaults(value: str) -> str:
    """`${VAR:-default}` -> default, as compose does when VAR is unset (images must be pinned even then)."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)


def assert_pinned(image: str, where: str) -> None:
    image = expand_defaults(image)
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    assert digest or tag, f"{where}: image {image!r} has no tag; pin a version"
    assert tag != "latest", f"{where}: image {image!r} uses :latest; pin a version"
    assert "$" not in tag, f"{where}: image {image!r} has a tag without a default"


def test_deploy_tree_has_the_expected_files() -> None:
    for path in (
        JETSON / "Dockerfile",
        JETSON / "cityops-edge.service",
        JETSON / "build-engine.sh",
        JETSON / "provision.sh",
        JETSON / "README.md",
        CLOUD / "Dockerfile",
        COMPOSE,
        MOSQUITTO_CONF,
        CLOUD / "README.md",
        K8S_BASE / "kustomization.yaml",
        K8S / "overlays" / "single-node" / "kustomization.yaml",
        K8S / "overlays" / "production" / "kustomization.yaml",
    ):
        assert path.is_file(), f"{path.relative_to(ROOT)} is missing"


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_parses(path: Path) -> None:
    assert load_all(path), f"{path} is empty"


def test_compose_hub_services_use_only_known_cityops_variables() -> None:
    known = hub_variables() | stack_variables()
    for name, service in compose()["services"].items():
        env = service.get("environment") or {}
        assert isinstance(env, dict), f"compose service {name}: write environment as a mapping"
        unknown = sorted(k for k in env if k.startswith("CITYOPS_") and k not in known)
        assert not unknown, f"compose service {name}: {unknown} are neither HubSettings fields nor stack variables"


def test_compose_interpolated_variables_are_documented_in_env_example() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    used = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", text))
    example = (CLOUD / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^([A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert used, "compose.yaml interpolates nothing: the secret checks are gone"
    assert not used - documented, f".env.example lacks {sorted(used - documented)}"


def test_compose_services_are_complete_and_pinned() -> None:
    services = compose()["services"]
    assert {"broker", "db", "hub", "ingest", "grafana"} <= set(services)
    for name, service in services.items():
        assert "image" in service, f"compose service {name} has no image"
        assert_pinned(service["image"], f"compose service {name}")
    assert services["db"]["image"].startswith("timescale/timescaledb-ha:")
    assert services["broker"]["image"].startswith("eclipse-mosquitto:2.")
    assert services["grafana"]["image"].startswith("grafana/grafana:")
    assert services["hub"]["command"][:3] == ["cityops", "hub", "run"]
    assert services["ingest"]["command"] == ["cityops", "hub", "ingest", "--workers", "2"]
    health = " ".join(services["hub"]["healthcheck"]["test"])
    assert f"{HEALTH_PATH}" in health and ":8765" in health, "hub healthcheck must GET /healthz on its port"
    mounts = [str(v) for v in services["broker"]["volumes"]]
    assert any(m.startswith("./mosquitto/mosquitto.conf:") for m in mounts), "broker must use mosquitto.conf"
    for name, service in services.items():
        for mount in service.get("volumes", []):
            source = str(mount).split(":", 1)[0]
            if source.startswith("."):
                assert (CLOUD / source).exists(), f"compose service {name} mounts missing {source}"


def test_dockerfiles_are_pinned_and_install_the_right_extras() -> None:
    for dockerfile in (JETSON / "Dockerfile", CLOUD / "Dockerfile"):
        text = dockerfile.read_text(encoding="utf-8")
        bases = re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE)
        assert bases, f"{dockerfile}: no FROM"
        for base in bases:
            assert_pinned(_with_arg_defaults(base, text), str(dockerfile))
        for source in re.findall(r"^COPY\s+(?!--from)(\S+)", text, flags=re.MULTILINE):
            assert (ROOT / source).exists(), f"{dockerfile}: COPY source {source} does not exist"
    jetson = (JETSON / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^ARG L4T_BASE=nvcr\.io/nvidia/l4t-", jetson, flags=re.MULTILINE), (
        "Jetson image needs an L4T base"
    )
    # No Python 3.11 wheel of ONNX Runtime's GPU build exists for JetPack 6: built from source unless an index has one.
    assert "--use_tensorrt" in jetson and "python3.11" in jetson and "ONNXRUNTIME_WHEEL_INDEX" in jetson
    instructions = "\n".join(line for line in jetson.splitlines() if not line.lstrip().startswith("#"))
    assert "torch" not in instructions.lower(), "no torch on the edge image"
    assert "onnxruntime-gpu" in jetson and "jetson" in jetson.lower()
    # Each image installs its lock file, then the project with --no-deps (nothing resolved at build time).
    for dockerfile, lock in ((JETSON / "Dockerfile", "edge.txt"), (CLOUD / "Dockerfile", "hub.txt")):
        text = dockerfile.read_text(encoding="utf-8")
        assert f"COPY deploy/requirements/{lock} " in text, f"{dockerfile} does not install {lock}"
        # The ONNX Runtime build stage pins its own build tools; everything else installs from the lock.
        stages = [stage for stage in text.split("\nFROM ") if " AS ort-wheel" not in stage.splitlines()[0]]
        installs = re.findall(r"pip install ([^\\&\n;]+)", "\n".join(stages))
        assert installs and all("--no-deps" in args or args.strip().startswith("pip==") for args in installs), installs
    edge_lock = (ROOT / "deploy" / "requirements" / "edge.txt").read_text(encoding="utf-8")
    hub_lock = (ROOT / "deploy" / "requirements" / "hub.txt").read_text(encoding="utf-8")
    assert not re.search(r"^(torch|ultralytics|psycopg|fastapi)==", edge_lock, flags=re.MULTILINE)
    assert not re.search(r"^(torch|ultralytics|onnxruntime|opencv)", hub_lock, flags=re.MULTILINE)


def _with_arg_defaults(image: str, dockerfile_text: str) -> str:
    """`${L4T_BASE}` -> the ARG's default, as `docker build` without --build-arg resolves it."""
    defaults = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", dockerfile_text, flags=re.MULTILINE))
    return re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m.group(1), m.group(0)), image)


@pytest.mark.parametrize("dockerfile", [JETSON / "Dockerfile", CLOUD / "Dockerfile"], ids=lambda p: p.parent.name)
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    hadolint = _tool("hadolint")
    result = subprocess.run([hadolint, "--no-color", str(dockerfile)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _tool(name: str) -> str:
    """A dev-extra tool: in this venv's bin (make test installs it), never skipped."""
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    assert Path(found).exists(), f"{name} is missing: it comes with the dev extra (make install)"
    return found


# Kubernetes: the base and every overlay. With kubectl (>= 1.27, kustomize v5) each kustomization is rendered as
# `kubectl apply -k` would send it and the checks run on that; without it they run on the raw resource files the
# kustomization pulls in (patches not applied), and the checks of what an overlay's patches set are skipped.

# Custom resources kubernetes-validate has no schema for, by kind: each gets the structural check named here.
CRD_API_VERSIONS = {
    "ExternalSecret": ("external-secrets.io/v1", "external-secrets.io/v1beta1"),
    "Cluster": ("postgresql.cnpg.io/v1",),
    "ScheduledBackup": ("postgresql.cnpg.io/v1",),
    "EMQX": ("apps.emqx.io/v2beta1",),
}


def _kustomization(directory: Path) -> dict[str, Any]:
    return yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))


def _patch_files(directory: Path) -> set[Path]:
    return {directory / p["path"] for p in _kustomization(directory).get("patches", []) if "path" in p}


def raw_objects(directory: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The objects of a kustomization's resource files, following resource folders (bases) recursively."""
    objects: list[tuple[Path, dict[str, Any]]] = []
    for resource in _kustomization(directory)["resources"]:
        path = (directory / resource).resolve()
        objects += raw_objects(path) if path.is_dir() else [(path, doc) for doc in load_all(path)]
    return objects


@functools.cache
def _rendered(directory: Path) -> tuple[dict[str, Any], ...] | None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    result = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"kubectl kustomize {directory.relative_to(ROOT)}: {result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def k8s_objects(directory: Path) -> list[tuple[Path, dict[str, Any]]]:
    """What the kustomization sends, rendered where kubectl exists, else its raw resource files."""
    rendered = _rendered(directory)
    if rendered is None:
        return raw_objects(directory)
    return [(directory / "kustomization.yaml", obj) for obj in rendered]


def rendered_or_skip(directory: Path) -> list[dict[str, Any]]:
    rendered = _rendered(directory)
    if rendered is None:
        pytest.skip("kubectl is not installed: an overlay's patches are checked only rendered")
    return list(rendered)


def objects_of_kind(directory: Path, kind: str) -> list[tuple[Path, dict[str, Any]]]:
    return [(p, o) for p, o in k8s_objects(directory) if o.get("kind") == kind]


def _name(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')} {(obj.get('metadata') or {}).get('name')}"


def _by_name(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for _, o in objects_of_kind(directory, kind)}


def _containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    return workload["spec"]["template"]["spec"]["containers"]


def _dig(obj: dict[str, Any], dotted: str) -> Any:
    value: Any = obj
    for key in dotted.split("."):
        assert isinstance(value, dict) and key in value, f"{_name(obj)}: {dotted} is missing"
        value = value[key]
    return value


def check_custom_resource(obj: dict[str, Any]) -> None:
    """A structural check of the custom resources (kubernetes-validate ships core schemas only): the API version
    the operator serves and the fields without which it would refuse or misread the object. Not a full schema."""
    kind = obj["kind"]
    assert obj["apiVersion"] in CRD_API_VERSIONS[kind], f"{_name(obj)}: apiVersion {obj['apiVersion']}"
    if kind == "ExternalSecret":
        store = _dig(obj, "spec.secretStoreRef")
        assert store.get("kind") == "ClusterSecretStore" and store.get("name"), f"{_name(obj)}: secretStoreRef"
        assert _dig(obj, "spec.target.name"), f"{_name(obj)}: spec.target.name"
        data = obj["spec"].get("data") or []
        assert data or obj["spec"].get("dataFrom"), f"{_name(obj)}: neither data nor dataFrom"
        for entry in data:
            assert entry.get("secretKey") and entry.get("remoteRef", {}).get("key"), f"{_name(obj)}: {entry}"
        # Every template placeholder is a fetched key (a typo would render an empty password).
        fetched = {e["secretKey"] for e in data}
        template = yaml.safe_dump(obj["spec"]["target"].get("template") or {})
        used = set(re.findall(r"\{\{\s*\.(\w+)", template))
        assert used <= fetched, f"{_name(obj)}: template uses {sorted(used - fetched)}, never fetched"
    elif kind == "Cluster":
        assert _dig(obj, "spec.instances") >= 1
        assert_pinned(_dig(obj, "spec.imageName"), _name(obj))
        assert _dig(obj, "spec.storage.size"), f"{_name(obj)}: storage.size"
        assert _dig(obj, "spec.bootstrap.initdb.database"), f"{_name(obj)}: bootstrap.initdb.database"
    elif kind == "EMQX":
        assert_pinned(_dig(obj, "spec.image"), _name(obj))
        assert _dig(obj, "spec.config.data"), f"{_name(obj)}: spec.config.data (emqx.conf)"
        assert _dig(obj, "spec.coreTemplate.spec.replicas") >= 1
    elif kind == "ScheduledBackup":
        assert len(_dig(obj, "spec.schedule").split()) == 6, f"{_name(obj)}: CNPG schedules have a seconds field"
        assert _dig(obj, "spec.cluster.name")


def check_schema(obj: dict[str, Any], where: str) -> None:
    """Core kinds against the Kubernetes API schemas (strict: unknown fields fail); custom resources structurally."""
    import kubernetes_validate

    if obj.get("kind") in CRD_API_VERSIONS:
        check_custom_resource(obj)
        return
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{where}: {_name(obj)}: {exc.message} at {list(exc.path)}")
    except kubernetes_validate.SchemaNotFoundError:
        pytest.fail(f"{where}: {_name(obj)}: no schema; a custom resource needs an entry in CRD_API_VERSIONS")


def _rel(path: Path) -> str:
    return str(path.relative_to(K8S))


def test_k8s_has_a_base_and_the_overlays() -> None:
    names = {_rel(d) for d in KUSTOMIZATIONS}
    assert {"base", "overlays/single-node", "overlays/production", "overlays/production-emqx"} <= names, names


@pytest.mark.parametrize("path", sorted(K8S.rglob("*.yaml")), ids=lambda p: _rel(p))
def test_k8s_raw_manifests_match_the_api_schemas(path: Path) -> None:
    """Every file as written: resources schema-checked; patches only well formed (they are partial objects,
    checked once merged, below)."""
    if path.name == "kustomization.yaml":
        return
    is_patch = path in _patch_files(path.parent)
    for obj in load_all(path):
        for key in ("apiVersion", "kind"):
            assert obj.get(key), f"{_rel(path)}: object without {key}"
        assert (obj.get("metadata") or {}).get("name"), f"{_rel(path)}: {obj['kind']} without metadata.name"
        if not is_patch:
            check_schema(obj, _rel(path))


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=_rel)
def test_k8s_kustomization_lists_existing_files_and_all_manifests(directory: Path) -> None:
    kustomization = _kustomization(directory)
    listed = {directory / r for r in kustomization["resources"]} | _patch_files(directory)
    for entry in sorted(listed):
        assert entry.exists(), f"{_rel(directory)}/kustomization.yaml lists {entry.name}, which does not exist"
    manifests = set(directory.glob("*.yaml")) - {directory / "kustomization.yaml"}
    missing = sorted(p.name for p in manifests - listed)
    assert not missing, f"{_rel(directory)}: not in kustomization.yaml (resources or patches): {missing}"


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=_rel)
def test_k8s_kustomization_renders_and_validates(directory: Path) -> None:
    """What `kubectl apply -k` would send: rendered by kustomize (kubectl's), each object schema-checked."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (the raw manifests are still schema-checked above)")
    rendered = rendered_or_skip(directory)
    assert len(rendered) == len(raw_objects(directory)) - _deleted_by_patches(directory)
    for obj in rendered:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == "cityops", f"{_name(obj)} is outside the cityops namespace"
        check_schema(obj, f"{_rel(directory)} (rendered)")


def _deleted_by_patches(directory: Path) -> int:
    """Objects an overlay removes with `$patch: delete` (counted from the base's raw objects)."""
    deleted = 0
    for patch in _kustomization(directory).get("patches", []):
        if "$patch: delete" in patch.get("patch", ""):
            target = patch["target"]
            deleted += sum(
                1
                for _, o in raw_objects(directory)
                if o["kind"] == target["kind"] and target.get("name", o["metadata"]["name"]) == o["metadata"]["name"]
            )
    return deleted


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=_rel)
def test_k8s_images_are_pinned(directory: Path) -> None:
    for kind in ("Deployment", "Job", "StatefulSet"):
        for path, obj in objects_of_kind(directory, kind):
            for container in _containers(obj):
                assert_pinned(container["image"], f"{_rel(path)}: {container['name']}")


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=_rel)
def test_k8s_probes_hit_healthz_on_the_container_port(directory: Path) -> None:
    probed = 0
    for path, deployment in objects_of_kind(directory, "Deployment"):
        for container in _containers(deployment):
            ports = {p.get("name") for p in container.get("ports", [])} | {
                p["containerPort"] for p in container.get("ports", [])
            }
            for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = container.get(probe_name)
                if probe is None:
                    continue
                probed += 1
                http = probe.get("httpGet")
                assert http, f"{_rel(path)}: {probe_name} is not an HTTP probe"
                assert http["path"] == HEALTH_PATH, f"{_rel(path)}: {probe_name} path {http['path']}"
                assert http["port"] in ports, f"{_rel(path)}: {probe_name} port {http['port']} is not a container port"
    assert probed >= 3


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=_rel)
def test_k8s_hub_and_ingest_take_their_secrets_from_the_secret(directory: Path) -> None:
    by_name = _by_name(directory, "Deployment")
    hub, ingest = by_name["cityops-hub"], by_name["cityops-ingest"]
    container = _containers(hub)[0]
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(container)
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert container["command"][:3] == ["cityops", "hub", "run"]
    assert _containers(ingest)[0]["command"][:3] == ["cityops", "hub", "ingest"]
    for deployment in (hub, ingest):
        secret_keys = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in _containers(deployment)[0]["env"]
            if "secretKeyRef" in e.get("valueFrom", {})
        }
        for key in ("CITYOPS_JWT_SECRET", "CITYOPS_ADMIN_PASSWORD", "CITYOPS_DATABASE_URL", "CITYOPS_MQTT_URL"):
            assert key in secret_keys, f"{deployment['metadata']['name']}: {key} must come from the Secret"
            assert secret_keys[key]["name"] == SECRET_NAME


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=_rel)
def test_k8s_env_uses_only_hub_settings(directory: Path) -> None:
    known = hub_variables()
    for path, obj in k8s_objects(directory):
        names: list[str] = list((obj.get("data") or {}) if obj["kind"] == "ConfigMap" else [])
        if obj["kind"] in ("Deployment", "Job"):
            for container in _containers(obj):
                names += [e["name"] for e in container.get("env", [])]
        if obj["kind"] == "ExternalSecret":  # the keys of the Secret it makes
            names += list((obj["spec"]["target"].get("template") or {}).get("data") or {})
        unknown = sorted(n for n in names if n.startswith("CITYOPS_") and n not in known)
        assert not unknown, f"{_rel(path)}: {_name(obj)}: {unknown} are not HubSettings fields"
    ((_, config),) = objects_of_kind(directory, "ConfigMap")
    HubSettings.model_validate(  # the ConfigMap's values parse (types, time zone) with test secrets
        {k.removeprefix("CITYOPS_").lower(): v for k, v in config["data"].items()}
        | {"jwt_secret": "x" * 40, "admin_password": "a-real-password"}
    )


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=_rel)
def test_k8s_every_deployment_has_an_hpa_and_selectors_match(directory: Path) -> None:
    deployments = _by_name(directory, "Deployment")
    labels = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments.items()}

    def selects(selector: dict[str, str]) -> bool:
        return any(selector.items() <= pod.items() for pod in labels.values())

    hpas = {o["spec"]["scaleTargetRef"]["name"]: o for _, o in objects_of_kind(directory, "HorizontalPodAutoscaler")}
    assert set(deployments) <= set(hpas), f"Deployments without an HPA: {sorted(set(deployments) - set(hpas))}"
    for target, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert target in deployments, f"{_name(hpa)} scales {target}, which is not a Deployment here"
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    services = objects_of_kind(directory, "Service")
    assert services
    for path, service in services:
        assert selects(service["spec"]["selector"]), f"{_rel(path)}: selector matches no Deployment"
    for path, pdb in objects_of_kind(directory, "PodDisruptionBudget"):
        assert selects(pdb["spec"]["selector"]["matchLabels"]), f"{_rel(path)}: selector matches no Deployment"


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=_rel)
def test_k8s_network_policies_deny_ingress_by_default(directory: Path) -> None:
    policies = _by_name(directory, "NetworkPolicy")
    deny = [
        p
        for p in policies.values()
        if p["spec"]["podSelector"] == {} and "Ingress" in p["spec"]["policyTypes"] and not p["spec"].get("ingress")
    ]
    assert deny, "no default-deny ingress NetworkPolicy (podSelector {}, policyTypes [Ingress], no rules)"
    # The hub API is let in (ingress controller, Prometheus) and its egress reaches DNS, database and broker.
    hub_pod = _by_name(directory, "Deployment")["cityops-hub"]["spec"]["template"]["metadata"]["labels"]
    allowed_in = [p for p in policies.values() if p["spec"].get("ingress") and _selects_pod(p, hub_pod)]
    assert len(allowed_in) >= 2, "the hub must be reachable from the ingress controller and Prometheus"
    egress_ports = {
        port["port"]
        for p in policies.values()
        if _selects_pod(p, hub_pod)
        for rule in p["spec"].get("egress", [])
        for port in rule.get("ports", [])
    }
    assert {53, 5432, 1883} <= egress_ports, f"hub egress ports {sorted(egress_ports)}"


def _selects_pod(policy: dict[str, Any], pod_labels: dict[str, str]) -> bool:
    selector = policy["spec"]["podSelector"]  # {} selects every pod
    if not selector.get("matchLabels", {}).items() <= pod_labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", "extend _selects_pod for other operators"
        if pod_labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=_rel)
def test_k8s_no_secret_values_in_manifests(directory: Path) -> None:
    """Secrets are referenced by name only: no Secret object with data, and no secretGenerator."""
    for path, obj in k8s_objects(directory):
        if obj["kind"] == "Secret":
            assert not obj.get("data") and not obj.get("stringData"), f"{_rel(path)}: {_name(obj)} carries values"
    assert "secretGenerator" not in _kustomization(directory)


def test_k8s_base_scales_from_two_replicas() -> None:
    by_name = _by_name(K8S_BASE, "Deployment")
    assert by_name["cityops-hub"]["spec"]["replicas"] == 2
    assert all(h["spec"]["minReplicas"] >= 2 for _, h in objects_of_kind(K8S_BASE, "HorizontalPodAutoscaler"))


def test_k8s_single_node_runs_one_of_each_without_operators() -> None:
    rendered = rendered_or_skip(K8S / "overlays" / "single-node")
    for obj in rendered:
        assert obj["kind"] not in CRD_API_VERSIONS, f"single-node needs no operator, yet has {_name(obj)}"
        if obj["kind"] == "Deployment":
            assert obj["spec"]["replicas"] == 1, _name(obj)
        if obj["kind"] == "HorizontalPodAutoscaler":
            assert obj["spec"]["minReplicas"] == 1, _name(obj)
        # minAvailable over one replica would block draining the only node.
        assert obj["kind"] != "PodDisruptionBudget", _name(obj)


def test_k8s_production_pulls_secrets_from_the_store_and_runs_an_ha_database() -> None:
    rendered = rendered_or_skip(K8S / "overlays" / "production")
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for obj in rendered:
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    hub_secret = next(
        (e for e in by_kind["ExternalSecret"].values() if e["spec"]["target"]["name"] == SECRET_NAME), None
    )
    assert hub_secret, f"production: no ExternalSecret makes {SECRET_NAME}"
    template = hub_secret["spec"]["target"]["template"]["data"]
    referenced = {
        ref["secretKeyRef"]["key"]
        for kind in ("Deployment", "Job")
        for workload in by_kind[kind].values()
        for container in _containers(workload)
        for env in container.get("env", [])
        if (ref := env.get("valueFrom")) and "secretKeyRef" in ref and ref["secretKeyRef"]["name"] == SECRET_NAME
    }
    assert referenced <= set(template), f"the ExternalSecret lacks {sorted(referenced - set(template))}"
    cluster = by_kind["Cluster"]["cityops-db"]
    assert cluster["spec"]["instances"] == 3
    assert cluster["spec"]["postgresql"]["synchronous"]["number"] >= 1
    assert "timescaledb" in cluster["spec"]["postgresql"]["shared_preload_libraries"]
    assert "@cityops-db-rw:5432/" in template["CITYOPS_DATABASE_URL"], "the hub must write to the -rw service"
    owner = cluster["spec"]["bootstrap"]["initdb"]["secret"]["name"]
    assert any(e["spec"]["target"]["name"] == owner for e in by_kind["ExternalSecret"].values())
    assert by_kind["Deployment"]["cityops-hub"]["spec"]["replicas"] >= 3
    for deployment in by_kind["Deployment"].values():
        limits = _containers(deployment)[0]["resources"]["limits"]
        assert limits["memory"] == _containers(deployment)[0]["resources"]["requests"]["memory"], _name(deployment)
    assert by_kind["NetworkPolicy"]["cityops-db-ingress"]["spec"]["podSelector"]["matchLabels"] == {
        "cnpg.io/cluster": cluster["metadata"]["name"]
    }


def test_k8s_production_emqx_asks_the_hub() -> None:
    """EMQX's HTTP authentication and authorisation call the hub's broker routes with the shared secret, and the
    hub knows that secret; the cluster survives the loss of a node."""
    from cloud_hub.api.routes import broker

    rendered = rendered_or_skip(K8S / "overlays" / "production-emqx")
    (emqx,) = [o for o in rendered if o["kind"] == "EMQX"]
    config = emqx["spec"]["config"]["data"]
    paths = {route.path for route in broker.router.routes}  # type: ignore[attr-defined]
    called = set(re.findall(r'url = "http://cityops-hub\.cityops\.svc(/[^"]+)"', config))
    assert called == paths == {"/api/v1/broker/authenticate", "/api/v1/broker/authorize"}, called
    assert config.count(f'"{broker.SECRET_HEADER}" = ${{CITYOPS_BROKER_AUTH_SECRET}}') == 2
    assert "no_match = deny" in config and "shared_subscription_strategy = hash_topic" in config
    assert emqx["spec"]["coreTemplate"]["spec"]["replicas"] >= 3
    assert not [o for o in rendered if o["kind"] == "Job"], "the broker-setup Job is Mosquitto's"
    hub = next(o for o in rendered if o["kind"] == "Deployment" and o["metadata"]["name"] == "cityops-hub")
    assert "CITYOPS_BROKER_AUTH_SECRET" in {e["name"] for e in _containers(hub)[0]["env"]}
    (secret,) = [o for o in rendered if o["kind"] == "ExternalSecret" and o["spec"]["target"]["name"] == SECRET_NAME]
    template = secret["spec"]["target"]["template"]["data"]
    assert "@emqx-listeners:1883" in template["CITYOPS_MQTT_URL"] and "CITYOPS_BROKER_AUTH_SECRET" in template
    limits = BrokerLimits()
    assert f"max_mqueue_len = {limits.max_queued_messages}" in config
    assert f"max_inflight = {limits.max_inflight_messages}" in config


def mosquitto_settings() -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in MOSQUITTO_CONF.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            settings.setdefault(key, value)
    return settings


def test_mosquitto_conf_is_secure_and_bounded_like_the_local_stack() -> None:
    settings = mosquitto_settings()
    assert "memory_limit" not in settings, "memory_limit breaks dynamic security in Mosquitto 2.0.11"
    assert settings["allow_anonymous"] == "false"
    assert settings["plugin"].endswith("mosquitto_dynamic_security.so")
    assert "plugin_opt_config_file" in settings
    limits = BrokerLimits()
    for key in ("max_queued_messages", "max_queued_bytes", "max_inflight_messages", "max_packet_size"):
        assert int(settings[key]) == getattr(limits, key), f"mosquitto.conf {key} differs from BrokerLimits"


def test_devices_get_the_tls_listener_and_the_hub_the_internal_plain_one() -> None:
    """Each listener with the options that follow it; compose publishes only TLS, which provisioning announces."""
    listeners: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in MOSQUITTO_CONF.read_text(encoding="utf-8").splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "listener":
            current = listeners.setdefault(value.split()[0], {})
        elif key in ("certfile", "keyfile", "cafile", "tls_version"):
            current[key] = value
    assert set(listeners) == {"8883", "1883"}
    assert listeners["8883"]["certfile"].startswith("/mosquitto/certs/") and listeners["8883"]["keyfile"]
    assert "certfile" not in listeners["1883"]
    services = compose()["services"]
    assert [str(p).rsplit(":", 1)[-1] for p in services["broker"]["ports"]] == ["8883"], "publish only TLS"
    assert any(str(v).endswith(":/mosquitto/certs:ro") for v in services["broker"]["volumes"])
    hub_env = compose()["x-hub-env"]
    assert hub_env["CITYOPS_PUBLIC_MQTT_PORT"].endswith(":-8883}") and hub_env["CITYOPS_PUBLIC_MQTT_TLS"]
    configmaps = objects_of_kind(K8S_BASE, "ConfigMap")
    k8s = next(doc for _, doc in configmaps if doc["metadata"]["name"] == "cityops-hub-config")
    assert (k8s["data"]["CITYOPS_PUBLIC_MQTT_PORT"], k8s["data"]["CITYOPS_PUBLIC_MQTT_TLS"]) == ("8883", "true")


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shell_scripts_parse_and_are_executable(script: Path) -> None:
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert script.stat().st_mode & stat.S_IXUSR, f"{script.name} is not executable"
    assert script.read_text(encoding="utf-8").startswith("#!/usr/bin/env bash\n")
    if shutil.which("shellcheck"):
        check = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stdout


def systemd_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as systemd reads it: sections of keys, each with all its values in order (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"{path.name}:{number}: not a key=value in a section: {raw!r}"
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_systemd_unit_runs_the_agent_with_watchdog_and_rotating_logs() -> None:
    unit = systemd_unit(JETSON / "cityops-edge.service")
    service = unit["Service"]
    assert service["ExecStart"] == [
        "/opt/cityops/venv/bin/cityops edge run --config /etc/cityops/edge.yaml --log-file /var/log/cityops/edge.log"
    ]
    assert service["Type"] == ["notify"] and service["NotifyAccess"] == ["main"]
    assert int(service["WatchdogSec"][0]) > 0
    assert service["Restart"] == ["on-failure"]
    assert service["LogsDirectory"] == ["cityops"]
    assert service["NoNewPrivileges"] == ["yes"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    cityops = shutil.which("cityops") or str(ROOT / ".venv" / "bin" / "cityops")
    if not Path(cityops).exists():
        pytest.skip("no cityops executable to stand in for /opt/cityops/venv/bin/cityops")
    # The unit points at the Jetson's venv; verify it with this machine's `cityops` in that place.
    unit = (JETSON / "cityops-edge.service").read_text(encoding="utf-8")
    unit = unit.replace("/opt/cityops/venv/bin/cityops", cityops)
    target = tmp_path / "cityops-edge.service"
    target.write_text(unit, encoding="utf-8")
    result = subprocess.run([analyze, "verify", str(target)], capture_output=True, text=True, check=False)
    problems = [line for line in result.stderr.splitlines() if "cityops-edge.service" in line]
    assert result.returncode == 0 and not problems, result.stderr


def _compose_command() -> list[str]:
    """`docker compose` (v2 plugin) where it exists, else Debian's `docker-compose` (v1.29, `make test` installs it):
    rendering needs no engine. Missing both fails under CI=true, so the file is always rendered in CI."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return [docker, "compose"]
    if legacy := shutil.which("docker-compose"):
        return [legacy]
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true: neither `docker compose` nor `docker-compose` is installed (make test installs it)")
    pytest.skip("neither `docker compose` nor `docker-compose` is installed")


def test_docker_compose_renders_every_service() -> None:
    result = subprocess.run(
        [*_compose_command(), "-f", str(COMPOSE), "--env-file", str(CLOUD / ".env.example"), "config"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", **_filled_env()},
    )
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    assert {"broker", "db", "hub", "ingest", "grafana"} <= set(rendered["services"])
    hub_env = rendered["services"]["hub"]["environment"]
    assert hub_env["CITYOPS_JWT_SECRET"] == "x" * 40, "secrets come from the environment file, never the compose file"


def test_docker_compose_refuses_missing_secrets() -> None:
    result = subprocess.run(
        [*_compose_command(), "-f", str(COMPOSE), "--env-file", str(CLOUD / ".env.example"), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin"},
    )
    assert result.returncode != 0
    assert re.search(r"set [A-Z_]+PASSWORD", result.stderr), result.stderr  # the message names the missing secret


def _filled_env() -> dict[str, str]:
    """.env.example leaves secrets empty; `config` refuses empty required ones, so fill them for the check."""
    example = (CLOUD / ".env.example").read_text(encoding="utf-8")
    names = re.findall(r"^([A-Z0-9_]+)=$", example, flags=re.MULTILINE)
    return {name: "x" * 40 for name in names}
