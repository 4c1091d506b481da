"""Evaluation suites: retrieval metrics and the untuned-vs-trained evaluation (metrics, evaluate), LoCoMo evidence
retrieval (locomo), LLM question answering (qa, eval_llm), PersonaMem, MTEB, and the memory systems (memory)."""
