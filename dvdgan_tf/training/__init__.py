"""The training job: the loop around the GAN step, and what it writes.

- `trainer`: `run`, the single gin root (build, restore, wire data, loop).
- `controller`: host-side loop: device calls of ``steps_per_loop`` steps,
  actions between them, stop requests.
- `loop_actions`: what happens every N steps (logs, sample GIFs,
  checkpoints, the NaN guard).
- `summaries`: TensorBoard writers (scalars, video grids, text).
- `strategies`: which `tf.distribute` strategy, which devices and worker.
"""
