"""The built-in studies: one module per paper, each declaring a module-level ``STUDY``
(:class:`overparam.study.Study`).

:func:`overparam.study.load_study` and ``overparam list`` find every module of this package that
defines one, so adding a study means adding a file (docs/studies.md). The authors' stored
measurements that a study compares against live in ``data/``.
"""
