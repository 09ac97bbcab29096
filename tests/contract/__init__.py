"""The seam contract suite (importable as ``contract`` by the integration suite)."""
