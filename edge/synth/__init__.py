"""The project's one deterministic synthetic renderer: plates, degradations, scenes, videos.

Training and fixture code only: the runtime never imports this package. numpy + OpenCV;
Pillow (optional, imported lazily in `edge.synth.fonts`) renders TrueType fonts, without it
the built-in Hershey stroke fonts are used. See edge/synth/README.md.
"""
