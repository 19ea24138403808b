"""Face detectors: one protocol (:mod:`.base`), one implementation a module (:mod:`.hog`: dlib's HOG,
:mod:`.yunet`: OpenCV's YuNet), and what both do to a large image (:mod:`.resize`).

The cost of detection follows the pixel count, so large frames are reduced to a working size for detection
only (``max_side``), or only a part of the frame is detected, at full detail (``detect_in``); the boxes are
mapped back to the full frame, where landmarks and chips are cut. Whether a frame is worth detecting at all is
the motion gate's (:mod:`edged.vision.motion`).
"""
