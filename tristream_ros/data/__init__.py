"""Synthetic tri-modal data, made here from a seed (no downloads).

- ``scenes``: robot-camera-like frame sequences with per-object ground truth.
- ``language``: query / answer / action / route templates, held-out phrasings, all sentences.
- ``speech_synth``: espeak-ng voices plus augmentation, cached, 16 kHz float32.
- ``dataset``: train / val / test splits holding out voices, phrasings and colour/kind
  combinations; ``generate_dataset`` writes them, ``DatasetReader`` yields sample dicts.
- ``demo_bag``: a rosbag2 of a camera stream and a spoken dialogue, with ground truth.

Command line: ``tristream generate dataset|bag``.
"""
