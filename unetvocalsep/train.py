"""Command line of ``python -m unetvocalsep.train``: training the U-Net with a ``chainer.training.Trainer``.

Only the arguments live here; the work is done by
:mod:`unetvocalsep.training.train`, whose functions a notebook can call.
"""
import os

from . import constants
from .errors import UserError
from .signals import run_cli
from .training.train import (COMMUNICATORS, EPOCHS, GPU_COMMUNICATORS, LOG_INTERVAL, OUT,
                             SNAPSHOT_INTERVAL, train, wants_gpu)


def get_parser():
    """The ``python -m unetvocalsep.train`` argument parser."""
    from .argtypes import Parser, decay, fraction, nonnegative_int, positive_float, positive_int

    p = Parser(
        prog="python -m unetvocalsep.train",
        description="Train the U-Net on cached spectrograms (see python -m unetvocalsep.prepare). "
                    "Defaults are the article's: 128-frame crops, batch 64, Adam.")
    p.add_argument("data", nargs="+", help="cache folders (or .npy / article .npz files)")
    p.add_argument("-o", "--out", default=OUT, help="output folder (default: %(default)s)")
    p.add_argument("--validation", nargs="+", default=None,
                   help="held-out cache folders/files for the Evaluator")
    p.add_argument("--val-fraction", type=fraction, default=0.0,
                   help="hold out this fraction of the training tracks instead")
    p.add_argument("-b", "--batchsize", type=positive_int, default=constants.BATCH)
    p.add_argument("-e", "--epoch", type=positive_int, default=EPOCHS,
                   help="article epochs (sum(frames)//128//batch*4 iterations each; default 40)")
    p.add_argument("-i", "--iteration", type=positive_int, default=None, help="train this many iterations instead")
    p.add_argument("-d", "--device", default="-1", help="-1 CPU, 0 first GPU, or @cupy:0")
    p.add_argument("--target", default="vocal", choices=["vocal", "inst"])
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--resume", default=None, help="trainer snapshot to resume from")
    p.add_argument("--init-model", default=None, help="start from these weights")
    p.add_argument("--snapshot-interval", type=positive_int, default=SNAPSHOT_INTERVAL,
                   help="iterations (default %(default)s)")
    p.add_argument("--log-interval", type=positive_int, default=LOG_INTERVAL,
                   help="iterations (default %(default)s)")
    p.add_argument("-j", "--loaderjob", type=nonnegative_int, default=0,
                   help="worker processes for a MultiprocessIterator (default 0: serial)")
    p.add_argument("--overwrite", action="store_true",
                   help="train into an output folder that already holds a model")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--final-alpha", type=positive_float, default=None,
                   help="not the article's: lower Adam's alpha linearly from 0.001 (or "
                        "--alpha) to this over the run (default: Adam's defaults throughout)")
    p.add_argument("--alpha", type=positive_float, default=None,
                   help="not the article's: Adam's alpha at the start of the run (default "
                        "0.001, Adam's default); --final-alpha's schedule starts here")
    p.add_argument("--weights", type=positive_float, nargs="+", default=None,
                   help="not the article's: one crop weight per data folder (default: every "
                        "frame drawn equally often); 1 4 1 draws the second folder's frames "
                        "four times as often")
    p.add_argument("--ema", type=decay, default=None, metavar="DECAY",
                   help="not the article's: also keep an exponential moving average of the "
                        "weights (0.999: about the last 1,000 iterations), saved as "
                        "unet_ema.npz at each snapshot")
    p.add_argument("--communicator", default=None, choices=COMMUNICATORS,
                   help="data-parallel training with ChainerMN, one process per device, "
                        "launched by mpiexec: pure_nccl (GPUs, recommended), flat, "
                        "non_cuda_aware, or naive (CPUs, or testing); --batchsize is per process "
                        "(see docs/DISTRIBUTED.md)")
    return p


def create_communicator(name):
    """A ChainerMN communicator, or a :class:`UserError` saying what is missing.

    Parameters
    ----------
    name : str
        One of :data:`COMMUNICATORS`.

    Returns
    -------
    chainermn.CommunicatorBase
    """
    from . import _compat  # noqa: F401
    import chainer

    if name in GPU_COMMUNICATORS and not chainer.backends.cuda.available:
        raise UserError(f"the {name} communicator needs CuPy and a CUDA GPU; "
                        "use --communicator naive on CPUs")
    try:
        import mpi4py.MPI  # noqa: F401
    except ImportError as exc:
        raise UserError(f"--communicator needs mpi4py and an MPI library "
                        f"(pip install 'unetvocalsep[mpi]'): {exc}") from None
    import chainermn

    try:
        return chainermn.create_communicator(name)
    except Exception as exc:
        raise UserError(f"cannot create the {name} communicator: {exc}") from None


def _main(argv=None):
    args = get_parser().parse_args(argv)
    if args.batchsize < 1 or (args.iteration is not None and args.iteration < 1) or args.epoch < 1:
        raise UserError("batch size, epochs and iterations must be positive")
    if args.weights is not None and len(args.weights) != len(args.data):
        raise UserError(f"{len(args.weights)} --weights for {len(args.data)} data folders: "
                        "give one per folder")
    from .device import parse_device

    device = parse_device(args.device)   # an unknown device is one line, before any work
    comm = create_communicator(args.communicator) if args.communicator else None
    if comm is not None and args.communicator in GPU_COMMUNICATORS and not wants_gpu(device):
        device = 0   # a GPU per process; train() picks GPU comm.intra_rank
    train(args.data, out=args.out, validation=args.validation, val_fraction=args.val_fraction,
          batchsize=args.batchsize, epoch=args.epoch, iteration=args.iteration,
          device=device, target=args.target, seed=args.seed, resume=args.resume,
          snapshot_interval=args.snapshot_interval, log_interval=args.log_interval,
          loaderjob=args.loaderjob, progress=not args.no_progress, init_model=args.init_model,
          comm=comm, overwrite=args.overwrite, final_alpha=args.final_alpha, alpha=args.alpha,
          weights=args.weights, ema=args.ema)
    if comm is None or comm.rank == 0:
        print(f"model written to {os.path.join(args.out, 'unet.npz')}")
    return 0


def main(argv=None):
    """Entry point of ``python -m unetvocalsep.train``; returns the exit status."""
    return run_cli(_main, argv, prog="unetvocalsep.train")


if __name__ == "__main__":
    raise SystemExit(main())
