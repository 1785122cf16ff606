"""Blob-store tests: one contract suite on local disk and S3 (SeaweedFS), plus S3-only checks."""
