"""Real server processes under crashes and concurrency."""
