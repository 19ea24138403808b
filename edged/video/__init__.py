"""One camera's frames to events: the tracker (detect, follow, embed until settled), the event rules,
the camera worker, and a camera's child process."""
