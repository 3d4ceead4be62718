"""examples/deploy/k8s: the Kubernetes example of docs/DEPLOYMENT.md needs no shared volume."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ruamel.yaml import YAML

from registry_pipeline.core.objstore.store import parse_store_url
from registry_pipeline_tests._helpers import REPO

K8S = REPO / "examples" / "deploy" / "k8s"
MODULE = "registry_pipeline.definitions"
LOCATION = "registry_pipeline"
BUILD_TAG = "registry-pipeline/build"  # lib/instance.py BUILD_TAG (lib imports Dagster)


def _documents() -> dict[str, list[Any]]:
    """Each YAML file's documents, by file name (safe loading)."""
    yaml = YAML(typ="safe", pure=True)
    return {
        path.name: [document for document in yaml.load_all(path) if document is not None]
        for path in sorted(K8S.glob("*.yaml"))
    }


def _walk(node: Any) -> Iterator[tuple[object, Any]]:
    """Every (key, value) of nested mappings and lists (a list item's key is its index)."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        yield key, value
        if isinstance(value, dict | list):
            yield from _walk(value)


def _values() -> dict[str, Any]:
    [values] = _documents()["values.yaml"]
    assert isinstance(values, dict)
    return values


def _components(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every Dagster component of the release whose pods get an environment."""
    components = {
        "dagsterWebserver": values["dagsterWebserver"],
        "dagsterDaemon": values["dagsterDaemon"],
        "runLauncher": values["runLauncher"]["config"]["k8sRunLauncher"],
    }
    for deployment in values["dagster-user-deployments"]["deployments"]:
        components[f"user deployment {deployment['name']}"] = deployment
    return components


def _environment(
    component: dict[str, Any], config_maps: dict[str, dict[str, str]]
) -> dict[str, str]:
    """The variables a component's pods get: `env`, `envVars` and the `envConfigMaps` ConfigMaps."""
    env: dict[str, str] = {}
    raw = component.get("env") or {}
    pairs = raw.items() if isinstance(raw, dict) else ((e["name"], e.get("value")) for e in raw)
    env.update(pairs)
    for item in component.get("envVars") or []:
        name, _, value = item.partition("=")
        env[name] = value
    for source in component.get("envConfigMaps") or []:
        assert source["name"] in config_maps, f"no ConfigMap {source['name']} in {K8S}"
        env.update(config_maps[source["name"]])
    return env


def _config_maps() -> dict[str, dict[str, str]]:
    return {
        document["metadata"]["name"]: document.get("data") or {}
        for documents in _documents().values()
        for document in documents
        if document.get("kind") == "ConfigMap"
    }


def test_every_file_parses_and_none_claims_a_shared_volume() -> None:
    documents = _documents()
    assert {"values.yaml", "store.yaml"} <= set(documents)
    for name, found in documents.items():
        for key, value in _walk(found):
            assert key not in ("persistentVolumeClaim", "volumeClaimTemplates"), name
            assert value not in ("PersistentVolumeClaim", "ReadWriteMany"), name
            assert not (key == "volumes" and any("nfs" in v or "hostPath" in v for v in value))


def test_every_dagster_component_names_the_bucket() -> None:
    config_maps = _config_maps()
    components = _components(_values())
    assert len(components) >= 4
    for label, component in components.items():
        env = _environment(component, config_maps)
        assert "REGISTRY_STORE" in env, f"{label}: REGISTRY_STORE is not set"
        assert parse_store_url(env["REGISTRY_STORE"]).bucket, label
        assert env.get("AWS_DEFAULT_REGION"), label


def test_code_and_runs_get_the_secrets_the_cache_and_the_workspace() -> None:
    values = _values()
    [deployment] = values["dagster-user-deployments"]["deployments"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True  # run pods: the same
    assert launcher["envSecrets"] == deployment["envSecrets"]
    header = (K8S / "values.yaml").read_text()
    for secret in deployment["envSecrets"]:
        assert f"create secret generic {secret['name']}" in header  # the README-in-the-file
    for variable in ("REGISTRY_DAGSTER_POSTGRES_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert f"--from-literal={variable}=" in header
    workspace = _environment(deployment, _config_maps())["REGISTRY_WORKSPACE"]
    volumes = {volume["name"]: volume for volume in deployment["volumes"]}
    assert all(set(volume) == {"name", "emptyDir"} for volume in volumes.values())
    [mount] = deployment["volumeMounts"]
    assert mount["mountPath"] == f"{workspace}/.codex" and mount["name"] in volumes
    [init] = deployment["initContainers"]
    assert init["command"] == ["registry", "init", workspace]
    assert init["volumeMounts"] == [mount]
    image = deployment["image"]
    assert init["image"] == f"{image['repository']}:{image['tag']}"


def test_the_helm_values_agree_with_the_image_and_the_instance() -> None:
    values = _values()
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    [deployment] = values["dagster-user-deployments"]["deployments"]
    args = deployment["dagsterApiGrpcArgs"]
    assert args[args.index("-m") + 1] == MODULE
    assert args[args.index("--location-name") + 1] == LOCATION
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["type"] == "QueuedRunCoordinator"  # Dagster's own queue
    queue = coordinator["config"]["queuedRunCoordinator"]
    assert {"key": BUILD_TAG, "limit": 1} in queue["tagConcurrencyLimits"]
    images = {
        f"{c['image']['repository']}:{c['image']['tag']}"
        for c in (values["dagsterWebserver"], values["dagsterDaemon"], deployment)
    }
    assert len(images) == 1  # one image for the release: `registry` works in any pod


def test_the_image_bakes_the_sources_at_the_workspace_and_pins_the_libraries() -> None:
    from dagster_postgres.version import __version__ as libraries

    text = (K8S / "Dockerfile").read_text()
    [deployment] = _values()["dagster-user-deployments"]["deployments"]
    workspace = _environment(deployment, _config_maps())["REGISTRY_WORKSPACE"]
    assert f"REGISTRY_WORKSPACE={workspace}" in text
    assert f"COPY registries {workspace}/registries" in text
    assert f"RUN registry init {workspace}" in text
    assert 'pip install ".[postgres]"' in text and f'"dagster-k8s=={libraries}"' in text


def test_the_deployment_guide_names_what_the_example_sets() -> None:
    guide = (REPO / "docs" / "DEPLOYMENT.md").read_text()
    kubernetes = guide.split("### Kubernetes", 1)[1].split("\n### ", 1)[0]
    for name in ("REGISTRY_STORE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "REGISTRY_DAGSTER_POSTGRES_URL",
                 "emptyDir", "SCALE.md", "store.yaml", "values.yaml"):  # fmt: skip
        assert name in kubernetes, name
