"""Relevance operators: hybrid first-stage retrieval (BM25 + dense, reciprocal-rank fusion)."""
