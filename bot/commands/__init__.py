"""`shopbot` subcommands, one module per group."""
