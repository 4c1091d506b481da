"""hins: hierarchical negative sampling for memory-retrieval embedding models.

    run.py          python -m hins.run: one run (or a Hydra multirun) of the pipeline
    pipeline.py     a run: its stages in order, then training and evaluation
    stages/         the pipeline's stages, each a declared unit: sources, personas, topics, queries, calibration,
                    negatives and samples; the Stage protocol and the runner that keys and caches their artifacts
    synthesis/      the synthesis backends the synthetic source uses (procedural, LLM) and the LLM client
    training/       the model wrapper, the loss, the packed forward and the Lightning training loop
    evaluation/     retrieval metrics and evaluation, LoCoMo, QA, PersonaMem, MTEB, the memory systems
    studies/        over many runs: the sweep check and the tables over replicates
    core/           the config schema, records, the artifact store, disk checks, CLI helpers, logging
    calibrate.py, paper_tables.py, aggregate.py, locomo.py, mteb_eval.py: the other commands (python -m hins.<name>)
"""

__version__ = "0.1.0"
