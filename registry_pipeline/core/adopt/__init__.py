"""Adoption: plan our catalog for a seed-system repository, never modifying its files.

May import every other core subpackage; nothing in the core imports `adopt/`.
"""

from registry_pipeline.core.adopt.plan import (
    AdoptionPlan,
    Decision,
    SeedLayout,
    find_layout,
    plan_adoption,
)

__all__ = ["AdoptionPlan", "Decision", "SeedLayout", "find_layout", "plan_adoption"]
