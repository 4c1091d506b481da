"""Synthesis backends (pipeline stages 2-4 and the queries of stage 6).

``ProceduralSynthesizer`` is the offline backend: seeded templates over a theme bank, with ground-truth
topic labels and evidence. ``diversity_report`` measures how varied and how usable its output is.
``hins.synthesis.llm.LLMSynthesizer`` (``synthesis=openai``) runs the paper's LLM steps through any
OpenAI-compatible endpoint; it is imported from its module so that the offline path never loads the client.
"""

from hins.synthesis.procedural import ProceduralSynthesizer, diversity_report

__all__ = ["ProceduralSynthesizer", "diversity_report"]
