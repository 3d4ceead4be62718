"""The delta log through `registry build` and `registry delta`: append-only across real builds,
the blocking append-only check, verify, show and explain."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from registry_pipeline.core.delta_log import CoveredRegistry, build_delta_log
from registry_pipeline.core.seal.envelope import RunSpec
from registry_pipeline.core.seal.run_id import base_run_id
from registry_pipeline.core.seal.run_store import RunStore, seal_files
from registry_pipeline.core.seal.schemas import SchemaCatalog
from registry_pipeline.core.workspace.layout import Workspace
from registry_pipeline_tests._helpers import Entries, Run, unseal

LOG = "REGISTRY_DELTA_LOG_v0_1.jsonl"


def _logs(root: Path) -> list[Path]:
    runs = root / ".codex" / "RUNS"
    return sorted(p for p in runs.iterdir() if "__registry_delta_log_build" in p.name)


def _build(cli: Run, root: Path) -> dict[str, dict[str, object]]:
    """A build even when nothing changed (each one appends to the delta log)."""
    code, out, _ = cli("build", "--workspace", str(root), "--json", "--force")
    assert code == 0, out
    return {entry["registry_id"]: entry for entry in json.loads(out)["registries"]}


def test_each_build_appends_and_never_rewrites(
    cli: Run, built: Path, built_entries: Entries
) -> None:
    demo, first = built, built_entries  # the first build: the session's
    assert first["registry_delta_log"]["checks"] == {
        "append_only": True, "schema_valid": True, "seal_valid": True,
    }  # fmt: skip
    _build(cli, demo)
    one, two = _logs(demo)
    old, new = (one / LOG).read_bytes(), (two / LOG).read_bytes()
    assert new.startswith(old) and len(new) > len(old)
    lines = [json.loads(line) for line in new.splitlines()]
    assert {line["registry_id"] for line in lines if line["from_ref"] is None} == {
        "run_registry", "op_status_table", "drift_signals", "expected_versions",
        "migration_ledger", "threshold_packs_file", "allowed_operations", "rolepack",
        "run_index", "run_overrides",
    }  # fmt: skip
    appended = lines[len(old.splitlines()) :]
    assert all(line["derivation_run_id"] == two.name for line in appended)
    envelope = json.loads((two / "run.json").read_text())
    previous = [ref for ref in envelope["inputs"] if ref["registry_id"] == "registry_delta_log"]
    assert [ref["run_id"] for ref in previous] == [one.name]
    code, out, _ = cli("delta", "verify", "--workspace", str(demo), "--json")
    assert code == 0 and json.loads(out)["status"] == "PASS"


def test_show_filters_and_explains_record_changes(cli: Run, built: Path) -> None:
    ledger = built / "registries" / "migration_ledger" / "applied_migrations.json"
    text = ledger.read_text()
    ledger.write_text(text.replace('"status": "VERIFIED"', '"status": "UNVERIFIED"', 1))
    _build(cli, built)
    code, out, _ = cli(
        "delta", "show", "--registry", "migration_ledger", "--explain", "--json",
        "--workspace", str(built),
    )  # fmt: skip
    assert code == 0
    records = json.loads(out)["records"]
    assert [r["from_ref"] is None for r in records] == [True, False]
    (changed,) = records[1]["explanation"]
    assert changed["records"]["counts"]["changed"] == 1
    assert changed["records"]["changed"]["records"][0]["fields"] == ["status"]
    code, out, _ = cli("delta", "show", "--since", "2999-01-01", "--workspace", str(built))
    assert code == 0 and out.startswith("0 transition(s) from ")
    second = records[1]["created_utc"]  # a whole second: --since compares moments, not text
    assert second.endswith("Z") and "." not in second
    for since, shown in ((second, 1), (second.replace("Z", ".5Z"), 0)):
        code, out, _ = cli(
            "delta", "show", "--registry", "migration_ledger", "--since", since, "--json",
            "--workspace", str(built),
        )  # fmt: skip
        assert code == 0
        assert [r["created_utc"] for r in json.loads(out)["records"]] == [second] * shown, since


def test_a_tampered_log_breaks_verify_and_is_not_a_baseline(cli: Run, built: Path) -> None:
    _build(cli, built)
    first, _second = _logs(built)
    unseal(first)
    data = (first / LOG).read_bytes()
    (first / LOG).write_bytes(data.replace(b'"delta_version":"0.1"', b'"delta_version":"0.2"', 1))
    code, _out, err = cli("delta", "verify", "--workspace", str(built))
    assert code == 1 and "error:" in err
    entries = _build(cli, built)  # the broken chain is never extended: a fresh valid baseline
    assert entries["registry_delta_log"]["checks"]["append_only"] is True


def test_nothing_yet_and_a_registry_outside_the_log(cli: Run, demo: Path) -> None:
    assert cli("delta", "verify", "--workspace", str(demo))[0] == 0
    code, out, _ = cli("delta", "show", "--workspace", str(demo))
    assert code == 0 and "no delta log yet" in out
    code, _out, err = cli("delta", "show", "--registry", "system_health_report", "--workspace",
                          str(demo))  # fmt: skip
    assert code == 0 and "not covered by the delta log: presentation-only" in err


def test_a_rebuild_from_the_same_inputs_reuses_the_log(
    cli: Run, built: Path, built_entries: Entries
) -> None:
    demo, first = built, built_entries["registry_delta_log"]  # the first build: the session's
    code, out, _ = cli(
        "build", "--select", "registry_delta_log", "--workspace", str(demo), "--json"
    )
    assert code == 0
    (again,) = json.loads(out)["registries"]
    assert again["status"] == "reused" and again["run_id"] == first["run_id"]
    assert len(_logs(demo)) == 1


def test_a_log_whose_records_name_another_folder_is_never_used(cli: Run, built: Path) -> None:
    """What a build that lost the race for its run id would leave: caught, never a baseline."""
    from registry_pipeline.core.delta_log import STATE_ARTIFACT, newest_valid_log
    from registry_pipeline.core.gate.checks import delta_append_only_check
    from registry_pipeline.core.workspace.snapshots import GENERATION, next_generation

    demo = built  # after one build
    (good,) = _logs(demo)
    files = {name: (good / name).read_bytes() for name in (LOG, STATE_ARTIFACT)}
    after = {GENERATION: next_generation(Workspace(demo), "registry_delta_log")}  # as a build
    stray = seal_files(RunStore(Workspace(demo)), RunSpec("registry_delta_log", extra=after), files)
    result = delta_append_only_check(stray.path, Workspace(demo), "registry_delta_log")
    assert not result.passed and "DERIVATION_MISMATCH" in result.metadata["reason_codes"]
    schemas = SchemaCatalog.for_workspace(demo)
    chosen = newest_valid_log(Workspace(demo), schemas, strict_derivation=True)
    assert chosen is not None and chosen.run_id == good.name
    code, _out, err = cli("delta", "verify", "--workspace", str(demo))
    assert code == 1 and "DERIVATION_MISMATCH" in err
    code, out, _ = cli("delta", "show", "--json", "--workspace", str(demo))
    assert code == 0 and json.loads(out)["log_run_id"] == good.name


def test_show_with_no_usable_log_says_so(cli: Run, built: Path) -> None:
    (log,) = _logs(built)
    unseal(log)
    (log / "REGISTRY_DELTA_LOG_STATE_v0_2.json").unlink()
    code, _out, err = cli("delta", "show", "--workspace", str(built))
    assert code == 1 and "NO_VALID_LOG" in err


def test_show_lists_transitions_in_time_order(cli: Run, workspace: Workspace) -> None:
    """A build appends its records registry by registry; show orders them by created_utc, and
    records of the same second keep the log's order (gamma before alpha here, not by id)."""
    seconds = iter([0, 1, 0, 2, 3])  # alpha, beta, gamma, alpha again, then the log
    store = RunStore(workspace, clock=lambda: _at(next(seconds)))
    seal_files(store, RunSpec("alpha"), {"ALPHA.json": b"1"})
    seal_files(store, RunSpec("beta"), {"BETA.json": b"1"})
    seal_files(store, RunSpec("gamma"), {"GAMMA.json": b"1"})
    seal_files(store, RunSpec("alpha"), {"ALPHA.json": b"2"})
    log_run_id = base_run_id("registry_delta_log", _at(3))
    covered = [CoveredRegistry(name, f"{name.upper()}.json") for name in ("gamma", "alpha", "beta")]
    schemas = SchemaCatalog.for_workspace(workspace.root)
    result = build_delta_log(workspace, covered, None, log_run_id, schemas)
    assert seal_files(store, RunSpec("registry_delta_log"), dict(result.files)).run_id == log_run_id
    in_log = [(r.registry_id, r.created_utc[-3:-1]) for r in result.new_records]
    assert in_log == [("gamma", "00"), ("alpha", "00"), ("alpha", "02"), ("beta", "01")]
    code, out, _ = cli("delta", "show", "--json", "--workspace", str(workspace.root))
    assert code == 0
    shown = [(r["registry_id"], r["created_utc"][-3:-1]) for r in json.loads(out)["records"]]
    assert shown == [("gamma", "00"), ("alpha", "00"), ("beta", "01"), ("alpha", "02")]
    code, out, err = cli("delta", "show", "--workspace", str(workspace.root))
    *lines, summary = out.splitlines()
    assert [line.split()[1] for line in lines] == ["gamma", "alpha", "beta", "alpha"]
    assert summary == f"4 transition(s) from {log_run_id}" and err == ""  # a result: stdout


def _at(second: int) -> datetime:
    return datetime(2026, 11, 20, 10, 0, second, tzinfo=UTC)
