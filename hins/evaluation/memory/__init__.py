"""Agent-memory systems (Mem0, MemoryOS) with a hins model as their embedder, and what they are scored on."""
