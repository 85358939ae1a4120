"""Feature visualisation: optimise images that excite units, as in Lucid's ``optvis``.

One concept per module: :mod:`param` (image parameterisations), :mod:`transforms`
(transformation robustness), :mod:`objectives` (what to maximise), :mod:`render` (the
optimisation loop), :mod:`cache` (rendered images on disk) and :mod:`figures` (PNG figures).
"""
