"""Video data: TFRecord format, converters, tf.data reader, synthetic dataset."""
