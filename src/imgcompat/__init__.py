"""imgcompat: one image API for a compute service, over Glance v1, v2 or both."""
