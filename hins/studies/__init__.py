"""Studies over many runs: the sweep check before a multirun (sweep_check) and the tables over replicates
(aggregate)."""
