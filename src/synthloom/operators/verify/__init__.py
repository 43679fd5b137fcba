"""Verifiable domains: problem generators, verifiers and solution search.

Every module of this package is imported with it, so a domain registers itself in
:data:`DOMAINS` by being a file here (a :class:`Domain` subclass decorated with
:func:`register_domain`). See :mod:`synthloom.operators.verify.base` for the protocol.
"""

import importlib
import pkgutil

from synthloom.operators.verify.base import (
    DOMAINS,
    Domain,
    Problem,
    SearchResult,
    Verification,
    Verifier,
    majority_vote,
    pass_at_k,
    register_domain,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["DOMAINS", "Domain", "Problem", "SearchResult", "Verification", "Verifier",
           "majority_vote", "pass_at_k", "register_domain"]
