"""synthloom: synthetic labelled training data with provenance, scored on real data."""

__version__ = "0.1.0"
