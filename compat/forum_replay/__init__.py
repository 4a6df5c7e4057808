"""Forum replay: users' threads (compat/forum/transcripts) replayed on simulated devices.

Scenario files live in compat/forum/scenarios; docs/forum-replay.md describes the format, the
normalisation rules and which transcripts are used. Run with scripts/forum-replay.
"""
