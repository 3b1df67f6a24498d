"""The pure core: model, rules and ports. Standard library only, no I/O."""
