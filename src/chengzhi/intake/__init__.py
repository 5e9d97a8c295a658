"""Intake (受理): every channel into one queue, with triage (classify, locate, deduplicate,
route)."""
