"""What frd keeps: the gallery of enrolled people (on disk), the ignore list (on disk) and the
recent faces held in memory (``unknown_faces``)."""
