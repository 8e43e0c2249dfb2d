"""Full-text search over the served files (design file-services.md sections 3.12 and 4.5)."""
