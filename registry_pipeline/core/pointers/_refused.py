"""The pointer store's refusal."""

from registry_pipeline.core.errors import RegistryError


class PointerRefused(RegistryError):
    """The store refused a change; `code` says why (CAS_CONFLICT, TARGET_INVALID, ...)."""

    exit_code = 1
