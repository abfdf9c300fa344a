"""Recognition: from an image to plate reads.

- `models`: the detector and reader models (the only package that imports onnxruntime).
- `reading`: detect, crop and read the plates of one image (`read_image`, `read_detections`).
- `tilt`: how far a plate crop is tilted, for the second look at a turned plate.
- `stills`: decoding still photos with bounded memory.
- `imaging`: small image helpers shared by the detector, the pipeline and training.
"""
