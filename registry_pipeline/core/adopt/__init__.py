"""Adoption: plan our catalog for a seed-system repository, never modifying its files.

May import only the core's top modules and the rooms before it in `core.LAYERS`.
"""

from registry_pipeline.core.adopt.plan import (
    AdoptionPlan,
    Decision,
    SeedLayout,
    find_layout,
    plan_adoption,
)

__all__ = ["AdoptionPlan", "Decision", "SeedLayout", "find_layout", "plan_adoption"]
