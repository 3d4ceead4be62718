"""One blocking check's verdict on one snapshot, free of Dagster (the asset layer converts it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class InputRef:
    """A sealed snapshot a check read besides the one it checks (a baseline, a dependency)."""

    registry_id: str
    run_id: str
    root_sha256: str | None

    def as_json(self) -> dict[str, object]:
        """The receipt's form."""
        return {"registry_id": self.registry_id, "run_id": self.run_id, "root": self.root_sha256}


@dataclass(frozen=True)
class CheckVerdict:
    """What one check decided: passed or not, why (`description`), its reason codes and
    details (`metadata`, plain JSON values), and the snapshots it read (`inputs`)."""

    name: str
    passed: bool
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[InputRef, ...] = ()

    @property
    def reason_codes(self) -> list[str]:
        """The metadata's reason codes, sorted."""
        codes = self.metadata.get("reason_codes") or []
        return sorted(str(code) for code in codes)

    def as_json(self) -> dict[str, object]:
        """The receipt's form: name, verdict, reason codes, the first lines of why, inputs."""
        return {
            "name": self.name,
            "passed": self.passed,
            "reason_codes": self.reason_codes,
            "description": (self.description or "")[:2000] or None,
            "inputs": [ref.as_json() for ref in self.inputs],
        }

    def with_name(self, name: str) -> CheckVerdict:
        """The same verdict under the check's name."""
        return CheckVerdict(name, self.passed, self.description, self.metadata, self.inputs)
