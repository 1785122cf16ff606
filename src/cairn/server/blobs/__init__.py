"""Blob stores: content-addressed bytes on local disk or S3-compatible storage."""
