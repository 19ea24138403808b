"""The vocabulary every layer shares: value types, errors, names, topics, paths, logging, strict JSON.

Standard library and numpy only: no OpenCV, dlib, TFLite or MQTT client behind anything here."""
