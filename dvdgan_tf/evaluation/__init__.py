"""Scoring a trained generator: the evaluation job and its building blocks.

- `job`: the job (`EvalSettings`, one checkpoint or every new one, results
  files and TensorBoard scalars); `dvdgan_tf.evaluate` is its command line.
- `tasks`: the metrics behind one interface (an `EvalTask` turns generated
  and real clips into named `MetricResult`s; the loop over generated sets
  and their mean/std is written once).
- `real_clips`: where the real side of a metric comes from (TFRecords, or
  the synthetic dataset rendered in memory).
- `stats_cache`: the cache of real-side statistics, keyed by everything
  they depend on.
- `motion`: motion energy, D_T's direction probe and the judge's motion
  confusion, for models of the synthetic set.

Never imports `training`.
"""
