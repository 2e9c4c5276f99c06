"""Reliability suite: hostile input, parser fuzzing, injected faults, concurrency and data-safety checks."""
