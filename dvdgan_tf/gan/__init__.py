"""The DVD-GAN training step: what one update of G, D_S and D_T computes.

- `dvdgan`: the `DVDGAN` model (2 D steps per G step, the FP whole clip,
  EMA update) and `build_dvdgan`, its gin builder.
- `losses`: hinge / non-saturating losses on summed scores, R1.
- `ema`: the exponential moving average of G's weights.
- `noise`: z and class labels drawn for each (sub-)step.
- `replicas`: per-replica seeds and the loss scale across replicas.

Depends on `models` only: no gin (bar the builder's registration in
`configurables`), no strategy construction, no files.
"""
