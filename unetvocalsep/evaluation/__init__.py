"""The evaluation wing: BSS Eval scores, baselines and reports.

- :mod:`~unetvocalsep.evaluation.metrics` -- SDR/SIR/SAR (museval, fast_bss_eval), NSDR;
- :mod:`~unetvocalsep.evaluation.baselines` -- REPET-SIM and the ideal ratio mask;
- :mod:`~unetvocalsep.evaluation.evaluate` -- scoring datasets (the ``evaluate`` command's work);
- :mod:`~unetvocalsep.evaluation.report` -- summary tables;
- :mod:`~unetvocalsep.evaluation.bands` -- vocal energy per frequency band and holes per frame.
"""
