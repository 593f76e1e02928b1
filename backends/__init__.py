"""TQA engines: interchangeable implementations of the codecs' hot kernels.

Installed as ``tqa.backends``; one module per engine, named like the engine (``numpy``,
``scipy``, ``tiled``), each composed from the kernels in ``_common``.  The contract is
:class:`tqa.engine.Engine`; the registry (:mod:`tqa.registry`) is the only importer.
"""
