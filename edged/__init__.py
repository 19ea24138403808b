"""frd: edge face recognition (dlib alignment, int8 FaceNet TFLite, MQTT)."""

__version__ = "0.1.0"
