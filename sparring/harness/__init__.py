"""Safety harness: kill-and-resume, fuzzing, malformed inputs over the registries, and an OpenAI-compatible server with faults on demand (tests and benchmarks)."""
