"""Video data: TFRecord format, converters, tf.data reader, synthetic dataset.

Modules, one concept each:

  records     the clip record: one SequenceExample per clip, one JPEG per
              frame (MediaSequence / DMVR / Model Garden keys)
  manifest    manifest.json of a converted dataset; shard names and globs
  writer      sharded, atomic, resumable writing of one split
  decode      PyAV decoding with fps resampling and short-side resizing
  sources     enumerating UCF-101, Kinetics, BAIR and class-folder inputs
  convert     the converters (sources -> clips -> writer -> manifest)
  synthetic   the built-in 12-class shape x motion dataset
  processors  per-clip TF ops: frame choice, JPEG decode, crop, resize
  pipeline    make_dataset(input_context, ...): the training/eval reader

Command line: dvdgan_tf/convert.py (`dvdgan-convert`); format reference:
docs/DATA.md.
"""
