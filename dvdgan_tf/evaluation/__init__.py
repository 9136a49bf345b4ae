"""Evaluation building blocks; `dvdgan_tf.evaluate` is the job that runs them.

- `tasks`: the metrics behind one interface (an `EvalTask` turns generated
  and real clips into named `MetricResult`s; the loop over generated sets
  and their mean/std is written once).
- `real_clips`: where the real side of a metric comes from (TFRecords, or
  the synthetic dataset rendered in memory).
- `stats_cache`: the cache of real-side statistics, keyed by everything
  they depend on.
"""
