"""Infrastructure every part uses: the config schema (config), typed records, the artifact store, the disk
and output checks, the command-line helpers, interruption, secret-safe logging, the Hugging Face Hub."""
