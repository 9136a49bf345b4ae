"""The model_dir: what a training run stores and how it is read back.

- `checkpointing`: training checkpoints (variable-by-variable), restoring
  them, and rebuilding the generator without gin.
- `metadata`: `RunMetadata`, the typed content of ``metadata.json``.
"""
