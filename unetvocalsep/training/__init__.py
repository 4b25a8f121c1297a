"""The training wing: spectrogram caches, datasets and the chainer Trainer.

In the order the data flows:

- :mod:`~unetvocalsep.training.datasets` -- reading DSD100, MUSDB18, iKala, MedleyDB and folders;
- :mod:`~unetvocalsep.training.stems` -- one track's stems, checked and matched in length;
- :mod:`~unetvocalsep.training.pairs` -- song + instrumental pairs (the one pipeline for
  ``prepare pairs`` and ``finetune``);
- :mod:`~unetvocalsep.training.prepare` -- writing the cache (the ``prepare`` command's work);
- :mod:`~unetvocalsep.training.cache` -- the cache on disk and the article's random 128-frame crops;
- :mod:`~unetvocalsep.training.train` -- the Trainer (the ``train`` command's work);
- :mod:`~unetvocalsep.training.extensions` -- Trainer extensions (saving, step size, NaN stop);
- :mod:`~unetvocalsep.training.distributed` -- ChainerMN;
- :mod:`~unetvocalsep.training.finetune` -- fine-tuning on a user's pairs;
- :mod:`~unetvocalsep.training.curves` -- reading logs, the stopping rule.

The command lines (``python -m unetvocalsep.prepare``, ``train``, ``finetune``,
``curves``) stay at the package's top level and only parse arguments.
"""
