"""The `bpftime` command line."""
