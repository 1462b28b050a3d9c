"""Quarantine of uploaded files that a malware scan did not pass (UP-09)."""
