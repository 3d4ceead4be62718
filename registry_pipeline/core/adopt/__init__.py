"""Adoption of a seed-system repository (its files untouched); imports as `.importlinter` says."""

from registry_pipeline.core.adopt.plan import (
    AdoptionPlan,
    Decision,
    SeedLayout,
    find_layout,
    plan_adoption,
)

__all__ = ["AdoptionPlan", "Decision", "SeedLayout", "find_layout", "plan_adoption"]
