"""Safety harness: kill-and-resume, fuzzing and malformed inputs over the registries (tests and benchmarks/safety.py)."""
