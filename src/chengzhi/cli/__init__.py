"""The `chengzhi` command line (Typer). Each command owns its transaction."""
