"""Pipeline stages as plain, importable functions (the CLI and the pipeline runner call these)."""
