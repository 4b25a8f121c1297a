"""Training the U-Net with a ``chainer.training.Trainer``.

``train(...)`` is the plain function; ``python -m unetvocalsep.train`` wraps it.
The defaults are the article's: random 128-frame crops, batch 64, Adam with
default settings, L1 loss on ``X * mask`` against the target magnitude, and
the article's epoch (``sum(frames) // 128 // 64 * 4`` iterations).
"""
import os

from .. import constants
from ..errors import UserError
from ..files import check_writable_folder
from ..limits import check_batch_size
from .extensions import (SaveUNet, StepSizeSettings, StopOnNonFiniteLoss, alpha_schedule,
                         resume_step_size)

#: Trainer extensions print these columns.
PRINT_KEYS = ["epoch", "iteration", "main/loss", "validation/main/loss", "elapsed_time"]

#: ChainerMN communicators offered by ``--communicator`` (see docs/DISTRIBUTED.md).
COMMUNICATORS = ("naive", "flat", "non_cuda_aware", "pure_nccl")
#: Those that exchange gradients between GPUs (each process then uses GPU ``intra_rank``).
GPU_COMMUNICATORS = ("flat", "non_cuda_aware", "pure_nccl")
#: Defaults shared by :func:`train` and the CLI.
OUT = "result"
EPOCHS = 40
SNAPSHOT_INTERVAL = 1000
LOG_INTERVAL = 50


def wants_gpu(spec):
    """Whether a ``--device`` value asks for a GPU (without touching any GPU).

    Parameters
    ----------
    spec : int, str or None
        See :func:`unetvocalsep.device.parse_device`.

    Returns
    -------
    bool
    """
    from ..device import is_cpu

    return not is_cpu(spec)


def split_validation(files, fraction, seed=0):
    """Hold out a fraction of the tracks for validation.

    Parameters
    ----------
    files : list of str
    fraction : float
        In [0, 1).
    seed : int

    Returns
    -------
    (list of str, list of str)
        Training and validation tracks (disjoint).
    """
    import numpy as np

    if not 0 <= fraction < 1:
        raise UserError("--val-fraction must be in [0, 1)")
    n_val = int(round(len(files) * fraction))
    if fraction > 0 and n_val == 0 and len(files) > 1:
        n_val = 1
    order = np.random.RandomState(seed).permutation(len(files))
    val = sorted(files[i] for i in order[:n_val])
    return sorted(set(files) - set(val)), val


def optimizer_description(alpha, final_alpha=None, custom=False):
    """How the optimizer was set, in words, for the model's stored config.

    Parameters
    ----------
    alpha : float
        Adam's step size at the start of the run.
    final_alpha : float or None
        The end of a linear schedule (:func:`alpha_schedule`), if any.
    custom : bool
        Whether ``alpha`` was chosen rather than Adam's default.

    Returns
    -------
    str

    Examples
    --------
    >>> optimizer_description(0.001)
    'Adam (chainer defaults)'
    >>> optimizer_description(0.0003, 3e-05, custom=True)
    'Adam (alpha 0.0003 linearly to 3e-05, other hyperparameters chainer defaults)'
    >>> optimizer_description(0.0003, custom=True)
    'Adam (alpha 0.0003, other hyperparameters chainer defaults)'
    """
    if final_alpha is not None:
        if not custom:
            return f"Adam (chainer defaults, alpha {alpha:g} linearly to {final_alpha:g})"
        return f"Adam (alpha {alpha:g} linearly to {final_alpha:g}, other hyperparameters chainer defaults)"
    if custom:
        return f"Adam (alpha {alpha:g}, other hyperparameters chainer defaults)"
    return "Adam (chainer defaults)"


def validation_sets(validation, val_files, target="vocal"):
    """The held-out datasets, one per ``validation`` entry (or one for ``val_files``).

    Parameters
    ----------
    validation : str, list of str or None
        Validation cache folders/files as given to :func:`train`; None when
        the validation tracks were split off the training data.
    val_files : list of str
        The validation tracks (:func:`unetvocalsep.training.cache.list_tracks`).
    target : {'vocal', 'inst'}

    Returns
    -------
    dict
        ``{label: SpectrogramDataset}`` (non-random crops), labels from
        :func:`unetvocalsep.training.setvalidation.set_labels`; one entry
        ``{'validation': ...}`` without several ``validation`` entries.
    """
    from .cache import SpectrogramDataset, list_tracks
    from .setvalidation import set_labels

    entries = [validation] if isinstance(validation, (str, os.PathLike)) else list(validation or [])
    if len(entries) < 2:
        return {"validation": SpectrogramDataset(val_files, target=target, random=False)}
    return {label: SpectrogramDataset(list_tracks(p), target=target, random=False)
            for label, p in zip(set_labels(entries), entries)}


def train(data, out=OUT, validation=None, val_fraction=0.0, batchsize=constants.BATCH,
          epoch=EPOCHS, iteration=None, device=-1, target="vocal", seed=0, resume=None,
          snapshot_interval=SNAPSHOT_INTERVAL, log_interval=LOG_INTERVAL, loaderjob=0, progress=True,
          init_model=None, comm=None, overwrite=False, final_alpha=None, alpha=None,
          weights=None, ema=None):
    """Train a UNet on cached spectrograms.

    Parameters
    ----------
    data : str or list of str
        Cache folders or files (see :mod:`unetvocalsep.training.cache`).
    out : str
        Output folder: ``unet.npz`` + ``unet.json``, ``log``, ``loss.png``, snapshots.
    validation : str, list of str or None
        Held-out cache folders/files for the ``Evaluator``. With several, the
        log also has each one's loss, ``validation/<name>/main/loss``
        (:class:`unetvocalsep.training.setvalidation.SetEvaluator`), beside the
        pooled ``validation/main/loss``.
    val_fraction : float
        Hold out this fraction of the ``data`` tracks when ``validation`` is None.
    batchsize : int
    epoch : int
        Article epochs to train (ignored when ``iteration`` is given).
    iteration : int or None
    device : int or str
        ``-1`` CPU, ``N`` / ``'@cupy:N'`` GPU; batches are moved by the updater.
    target : {'vocal', 'inst'}
    seed : int
    resume : str or None
        A trainer snapshot to continue from.
    snapshot_interval, log_interval : int
        In iterations.
    loaderjob : int
        Worker processes for a ``MultiprocessIterator`` (0: ``SerialIterator``).
    progress : bool
    init_model : str or None
        Start from these weights (fine-tuning).
    comm : chainermn communicator or None
        For data-parallel training, one process per device: rank 0 scatters
        the tracks, gradients are averaged by a multi-node optimizer, the
        validation loss and the reported training loss are averaged over all
        processes, BatchNormalization statistics are averaged before each
        evaluation and save, and only rank 0 writes the log, the snapshots and
        the model. A GPU ``device`` becomes GPU ``comm.intra_rank``.
        ``batchsize`` is per process.
    overwrite : bool
        Train into an ``out`` that already holds a model. Without it (and
        without ``resume``) such a folder is refused, so an earlier model is
        never replaced by accident.
    final_alpha : float or None
        Not the article's (which keeps Adam's defaults, the default here):
        lower Adam's step size ``alpha`` linearly from its default 0.001 to
        this value over the run's iterations (:func:`alpha_schedule`). It is
        stored with the weights, and a resumed run continues the schedule.
    alpha : float or None
        Not the article's: Adam's step size at the start of the run (None:
        Adam's default 0.001). With ``final_alpha`` the schedule starts here;
        without it, ``alpha`` holds for the whole run. A lower value suits a
        short fine-tuning stage that should not undo what the weights learned.
        Both are kept in the snapshots, so ``resume`` continues with them when
        they are not given again (:class:`StepSizeSettings`).
    weights : list of float or None
        Not the article's (which draws every frame of the data equally often):
        one weight per entry of ``data``, multiplying how often random crops
        come from its tracks (:func:`unetvocalsep.training.cache.track_weights`).
        Stored with the weights as ``data_weights``.
    ema : float or None
        Not the article's: also keep an exponential moving average of the
        weights with this decay (0.999: about the last 1,000 iterations) and
        save it as ``out/unet_ema.npz`` at each snapshot and at the end
        (:class:`unetvocalsep.training.averaging.WeightAverage`).

    Returns
    -------
    chainer.training.Trainer
        After ``run()``; ``out/unet.npz`` holds the final model.

    Notes
    -----
    On the CPU this calls :func:`unetvocalsep.fast.allocator.keep_freed_memory`,
    which tells glibc to keep freed memory in the process for reuse (1.6x
    faster steps at batch 64, see docs/FASTCONV.md). It holds for the rest of
    the process: a notebook kernel that trained keeps its peak memory
    resident. ``UNETVOCALSEP_MALLOC_TUNE=0`` before the call leaves malloc alone.
    """
    import math

    import numpy as np

    from .. import _compat  # noqa: F401
    from chainer import iterators, optimizers, training
    from chainer.training import extensions

    from .averaging import WeightAverage
    from .cache import (SpectrogramDataset, article_iterations_per_epoch, check_tracks, list_tracks,
                        track_weights)
    from .setvalidation import SetEvaluator
    from ..fast import allocator
    from ..device import get_device
    from ..fast.fastunet import for_device
    from ..model_io import default_config, load_model
    from .snapshots import load_snapshot
    from ..network import UNet, UNetTrainmodel

    check_batch_size(batchsize)
    rank0 = comm is None or comm.rank == 0
    if resume:
        alpha, final_alpha = resume_step_size(resume, alpha, final_alpha)
    if rank0:
        check_writable_folder(out)   # before any work, not at the first log write
        existing = os.path.join(out, "unet.npz")
        if os.path.exists(existing) and not (overwrite or resume):
            raise UserError(f"{existing} exists (use --overwrite to train over it, or --resume "
                            "a snapshot to continue)")
    np.random.seed(seed + (comm.rank if comm is not None else 0))
    if comm is not None and wants_gpu(device):
        device = comm.intra_rank  # one process per GPU of the node
    dev = get_device(device)
    if dev.xp is np:
        allocator.keep_freed_memory()  # 1.6x at batch 64 on CPU, see allocator.py
    files = list_tracks(data)
    if not files:
        raise UserError(f"no cached tracks (*.npy) in {data}")
    if validation:
        val_files = list_tracks(validation)
        overlap = {os.path.basename(f) for f in files} & {os.path.basename(f) for f in val_files}
        files = [f for f in files if os.path.basename(f) not in overlap]
    else:
        files, val_files = split_validation(files, val_fraction, seed)
    if not files:
        raise UserError("no training tracks left")
    check_tracks(files + list(val_files))
    per_file = None
    if weights is not None:
        by_track = track_weights(data, weights)
        per_file = [by_track[f] for f in files]
    train_set = SpectrogramDataset(files, target=target, random=True, seed=seed, weights=per_file)
    val_sets = validation_sets(validation, val_files, target) if val_files else {}
    if comm is not None:
        from . import distributed
        train_set, val_sets = distributed.scatter(train_set, val_sets, comm, seed)

    unet = load_model(init_model)[0] if init_model else UNet()
    unet = for_device(unet, dev.xp)   # on the CPU: the same links on faster kernels
    model = UNetTrainmodel(unet)
    model.to_device(dev)
    optimizer = optimizers.Adam() if alpha is None else optimizers.Adam(alpha=alpha)
    adam_alpha = optimizer.hyperparam.alpha
    custom_alpha = final_alpha is not None or alpha is not None
    if comm is not None:
        optimizer = distributed.multi_node_optimizer(optimizer, comm)
    optimizer.setup(model)

    if loaderjob:
        train_iter = iterators.MultiprocessIterator(train_set, batchsize, n_processes=loaderjob,
                                                    shared_mem=4 * 2 * constants.N_BINS * constants.PATCH * 4)
    else:
        train_iter = iterators.SerialIterator(train_set, batchsize)
    updater = training.updaters.StandardUpdater(train_iter, optimizer, device=dev)
    stop = (iteration, "iteration") if iteration else (epoch, "epoch")
    trainer = training.Trainer(updater, stop, out=out)
    trainer.extend(StopOnNonFiniteLoss())
    if final_alpha is not None:
        # the run's length: an epoch is len(train_set) / batchsize iterations of this
        # process's iterator (train_set is already this process's share under ChainerMN)
        total = iteration or math.ceil(epoch * len(train_set) / batchsize)
        trainer.extend(alpha_schedule(adam_alpha, final_alpha, total), name="alpha_schedule")
    if custom_alpha:
        trainer.extend(StepSizeSettings(alpha, final_alpha))
        trainer.extend(extensions.observe_value(
            "alpha", lambda t: t.updater.get_optimizer("main").alpha), trigger=(log_interval, "iteration"))

    if val_sets:
        val_iters = {k: iterators.SerialIterator(v, batchsize, repeat=False, shuffle=False)
                     for k, v in val_sets.items()}
        if len(val_iters) == 1:
            evaluator = extensions.Evaluator(next(iter(val_iters.values())), model, device=dev)
        else:
            evaluator = SetEvaluator(val_iters, model, device=dev)
        if comm is not None:
            evaluator = distributed.multi_node_evaluator(evaluator, comm)
        trainer.extend(evaluator, trigger=(log_interval * 4, "iteration"))
    if comm is not None:
        average_bn = distributed.extend_trainer(
            trainer, model, comm, snapshot_interval,
            eval_every=log_interval * 4 if val_sets else None)
    if rank0:
        cfg = default_config(
            target=target, batchsize=batchsize,
            optimizer=optimizer_description(adam_alpha, final_alpha, alpha is not None),
            data=[os.path.abspath(p) for p in ([data] if isinstance(data, str) else data)],
            train_tracks=len(files), validation_tracks=len(val_files),
            train_frames=int(sum(SpectrogramDataset(files, random=False).frames)),
            article_iterations_per_epoch=article_iterations_per_epoch(
                SpectrogramDataset(files), batchsize),
            seed=seed, device=str(dev), processes=comm.size if comm is not None else 1,
            adam_alpha=float(adam_alpha),
            final_alpha=None if final_alpha is None else float(final_alpha))
        if weights is not None:
            cfg["data_weights"] = [float(w) for w in weights]
        if ema is not None:
            cfg["ema_decay"] = float(ema)
        trainer.extend(extensions.LogReport(trigger=(log_interval, "iteration")))
        keys = PRINT_KEYS + (["alpha"] if custom_alpha else [])
        trainer.extend(extensions.PrintReport(keys), trigger=(log_interval, "iteration"))
        if progress:
            trainer.extend(extensions.ProgressBar(update_interval=1))
        if extensions.PlotReport.available():
            trainer.extend(extensions.PlotReport(["main/loss", "validation/main/loss"],
                                                 x_key="iteration", file_name="loss.png",
                                                 trigger=(log_interval, "iteration")))
        trainer.extend(extensions.snapshot(filename="snapshot_iter_{.updater.iteration}", n_retains=2),
                       trigger=(snapshot_interval, "iteration"))
        save = SaveUNet(unet, os.path.join(out, "unet.npz"), cfg)
        trainer.extend(save, name="save_unet", trigger=(snapshot_interval, "iteration"))
    if ema is not None:
        average = WeightAverage(unet, ema)
        trainer.extend(average)   # every rank: its snapshot state stays the same on each
        if rank0:
            save_ema = SaveUNet(average.average, os.path.join(out, "unet_ema.npz"),
                                dict(cfg, weights="exponential moving average"))
            trainer.extend(save_ema, name="save_unet_ema", trigger=(snapshot_interval, "iteration"))
    if resume:   # read without pickle (model_io.read_npz_safely): a snapshot can't run code
        load_snapshot(resume, trainer)
    # overflow or NaN shows up as a non-finite loss, which StopOnNonFiniteLoss turns
    # into one line; chainer's own traceback print is off for the same reason
    with np.errstate(over="ignore", invalid="ignore"):
        trainer.run(show_loop_exception_msg=False)
    if comm is not None:
        average_bn(trainer)  # collective: every rank ends with the same model
    if rank0:
        save(trainer)
        if ema is not None:
            save_ema(trainer)
    return trainer
