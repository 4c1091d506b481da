"""The Hydra configs of hins' commands (config.yaml, calibrate.yaml, paper_tables.yaml and their groups), a package
so that Hydra finds them by import (``pkg://hins.conf``) from any working directory and in an installed wheel."""
