"""Small shared infrastructure with no model knowledge.

- `atomic_files`: write-then-rename, so a kill never leaves half a file.
- `preemption`: SIGTERM / Ctrl-C as a flag polled at safe points.
- `errors`: one line for an exception (TF graph errors included).
- `pixels`: uint8 [0, 255] <-> float [-1, 1], the one pair.
"""
