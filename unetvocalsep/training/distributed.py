"""Data-parallel training with ChainerMN: what ``train`` adds when given a communicator.

``train(..., comm=comm)`` calls these four steps; with ``comm=None`` none of
them runs and nothing here is imported.  docs/DISTRIBUTED.md shows how to
launch it (one process per device under ``mpiexec``).

Examples
--------
>>> import chainermn                                             # doctest: +SKIP
>>> comm = chainermn.create_communicator("naive")                # doctest: +SKIP
>>> train_set, val_sets = scatter(train_set, val_sets, comm, seed=0)  # doctest: +SKIP
"""
import chainer
from chainer import training


def scatter(train_set, val_sets, comm, seed=0):
    """Give each process its share of the training and validation examples.

    Parameters
    ----------
    train_set : chainer dataset
    val_sets : dict
        ``{label: chainer dataset}``, each validation set scattered on its
        own (possibly empty). Only rank 0's datasets are read.
    comm : chainermn communicator
    seed : int

    Returns
    -------
    train_set, val_sets
    """
    import chainermn
    rank0 = comm.rank == 0
    train_set = chainermn.scatter_dataset(train_set if rank0 else None, comm, shuffle=True,
                                          seed=seed)
    val_sets = {k: chainermn.scatter_dataset(v if rank0 else None, comm)
                for k, v in val_sets.items()}
    return train_set, val_sets


def multi_node_optimizer(optimizer, comm):
    """Wrap ``optimizer`` so that gradients are averaged over the processes."""
    import chainermn
    return chainermn.create_multi_node_optimizer(optimizer, comm)


def multi_node_evaluator(evaluator, comm):
    """Wrap an Evaluator so that its result is the mean over the processes."""
    import chainermn
    return chainermn.create_multi_node_evaluator(evaluator, comm)


def extend_trainer(trainer, model, comm, snapshot_interval, eval_every=None):
    """Add the per-process extensions: mean loss in the log, shared BatchNorm statistics.

    Parameters
    ----------
    trainer : chainer.training.Trainer
    model : chainer.Link
    comm : chainermn communicator
    snapshot_interval : int
        Iterations between saves (BatchNorm statistics are averaged before).
    eval_every : int or None
        Iterations between evaluations (likewise).

    Returns
    -------
    callable
        The BatchNorm-averaging extension: call it on the trainer once more
        after the run, on every rank, before the final save.
    """
    import chainermn

    # main/loss in the log: the mean over all processes, not rank 0's alone.
    # (chainermn's ObservationAggregator needs ChainerX, absent from the
    # chainer 7.8.1 sdist build, hence this one-liner.)
    @training.make_extension(trigger=(1, "iteration"), priority=training.PRIORITY_EDITOR)
    def mean_loss_over_processes(t):
        if "main/loss" in t.observation:
            loss = float(chainer.as_array(t.observation["main/loss"]))
            t.observation["main/loss"] = comm.allreduce_obj(loss) / comm.size

    trainer.extend(mean_loss_over_processes)

    # BatchNorm running statistics are not parameters, so the multi-node
    # optimizer does not average them: do it before evaluations and saves.
    def persistent_trigger(t):
        it = t.updater.iteration
        return it % snapshot_interval == 0 or bool(eval_every and it % eval_every == 0)

    average_bn = chainermn.extensions.AllreducePersistent(model, comm)
    trainer.extend(average_bn, trigger=persistent_trigger)
    return average_bn
