"""lore/*.md -> sections -> chunks -> Chroma; retrieval scoped by character and beat."""
