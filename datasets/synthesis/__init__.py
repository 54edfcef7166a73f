"""Meeting-scene synthesis: person cutouts placed on backgrounds, one component per module.

``placement`` (where the person goes, boundary-preserving), ``warp`` (TPS + the affine as one remap),
``foreground`` (decontaminated colours), ``composite`` (the equation, harmonisation, light wrap),
``camera`` (noise, blur, exposure, JPEG), ``priors`` (previous-frame masks), ``backgrounds``,
``cutouts`` (reading and checking store samples), ``scene`` (draws every random parameter of a
composite in one place and renders it), ``clips`` (smooth motion), ``contact_sheet``.
The stage itself is ``datasets/synthesize.py``.
"""
