"""A run reads and checks what it materialized itself, whatever other runs did since."""

from pathlib import Path

import dagster as dg

from registry_pipeline.lib.io_manager import materialized_path


def test_each_run_finds_its_own_materialization_not_the_newest(tmp_path: Path) -> None:
    @dg.asset(name="registry_x", config_schema={"folder": str})
    def registry_x(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        folder = context.op_execution_context.op_config["folder"]
        return dg.MaterializeResult(metadata={"path": folder})

    def run(folder: str) -> str:
        result = dg.materialize(
            [registry_x],
            instance=instance,
            run_config={"ops": {"registry_x": {"config": {"folder": folder}}}},
        )
        return result.run_id

    key = dg.AssetKey("registry_x")
    with dg.instance_for_test() as instance:
        first = run(str(tmp_path / "first"))
        second = run(str(tmp_path / "second"))  # now the newest materialization across runs
        assert materialized_path(instance, key, first) == tmp_path / "first"
        assert materialized_path(instance, key, second) == tmp_path / "second"
        assert materialized_path(instance, dg.AssetKey("other"), first) is None
