"""Offline training: the Keras model, its data pipeline, and ``train``.

Installed as ``neuraltunes_live.training`` (see pyproject.toml) and imported
only by the ``train`` command and the tests: TensorFlow is needed here and
nowhere else. The package's own encoder and data reader are used throughout.
"""
