"""Using a trained generator: samples, the whole FP clip, SavedModels.

- `generation`: seed -> latent -> video; the whole DVD-GAN-FP clip; uint8.
- `samplers`: one interface over a model_dir and a SavedModel.
- `export`: the SavedModel of the (EMA) generator and its signatures.
- `context_frames`: DVD-GAN-FP context frames from a video file or
  TFRecords.

Never imports `training`.
"""
