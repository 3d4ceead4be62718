"""Adoption: reading a repository laid out like the seed system's (its v0.1 registry catalog and
addenda, its operations catalog, its pointer file, its schemas) and planning our catalog for it,
without modifying any of its files.

May import every other subpackage of the core (it needs the builders' list and what each reads);
nothing in the core imports `adopt/`.
"""

from registry_pipeline.core.adopt.plan import (
    AdoptionPlan,
    Decision,
    SeedLayout,
    find_layout,
    plan_adoption,
)

__all__ = ["AdoptionPlan", "Decision", "SeedLayout", "find_layout", "plan_adoption"]
