"""Adoption: planning our catalog for a repository laid out like the seed system's, never
modifying its files. May import any subpackage of the core; nothing in the core imports it."""

from registry_pipeline.core.adopt.plan import (
    AdoptionPlan,
    Decision,
    SeedLayout,
    find_layout,
    plan_adoption,
)

__all__ = ["AdoptionPlan", "Decision", "SeedLayout", "find_layout", "plan_adoption"]
