"""TQA engines: interchangeable implementations of the block codec's hot kernels.

Installed as ``tqa.backends``.  Every engine implements the four kernels of
:class:`tqa.backends.base.Engine` and must give bit-identical results; the framing,
side info, mode decisions and the file format are shared code in :mod:`tqa`.
"""
