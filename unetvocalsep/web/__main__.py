"""``python -m unetvocalsep.web``: serve the drag-and-drop separation page.

Examples
--------
::

    python -m unetvocalsep.web                        # http://127.0.0.1:8000/
    python -m unetvocalsep.web --model result/unet.npz --workers 2 --port 8080
"""
import logging
import sys

from ..errors import UserError, run_cli


def get_parser():
    """The command-line parser.

    Returns
    -------
    argparse.ArgumentParser
    """
    from ..argtypes import Parser, port, positive_float, positive_int
    from . import jobs as J

    p = Parser(
        prog="python -m unetvocalsep.web",
        description="Serve a web page that separates an uploaded song into vocals and accompaniment.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: %(default)s, this machine only; "
                        "0.0.0.0 exposes the demo to the network)")
    p.add_argument("--port", type=port, default=8000, help="port (default: %(default)s)")
    p.add_argument("--model", default=None, metavar="PATH",
                   help="npz model (default: the model bundled with the package)")
    p.add_argument("--device", default="-1",
                   help="-1 for the CPU, N for GPU N (default: %(default)s)")
    p.add_argument("--max-upload-mb", type=positive_float, default=J.MAX_UPLOAD_MB, metavar="MB",
                   help="largest upload accepted (default: %(default)s)")
    p.add_argument("--max-seconds", type=positive_float, default=J.MAX_SECONDS, metavar="S",
                   help="longest song accepted, seconds (default: %(default)s)")
    p.add_argument("--workers", type=positive_int, default=J.WORKERS,
                   help="songs separated at the same time (default: %(default)s)")
    p.add_argument("--keep-minutes", type=positive_float, default=J.KEEP_MINUTES, metavar="MIN",
                   help="finished jobs and their files are deleted after this long (default: %(default)s)")
    p.add_argument("--max-job-mb", type=positive_float, default=float(J.MAX_JOB_MB), metavar="MB",
                   help="most disk one song's upload and results may take (default: %(default)s)")
    p.add_argument("--max-queue", type=positive_int, default=J.MAX_QUEUE,
                   help="most songs waiting; more are refused with 503 (default: %(default)s)")
    p.add_argument("--jobs-dir", default=None, metavar="DIR",
                   help="folder for uploads and results (default: a temporary folder, "
                        "removed on exit)")
    p.add_argument("--quiet", action="store_true", help="do not log each request")
    return p


def _main(argv):
    import importlib.util

    args = get_parser().parse_args(argv)   # --help prints without Flask installed
    if importlib.util.find_spec("flask") is None:   # checked without importing it
        raise UserError("the web demo needs Flask: pip install 'unetvocalsep[web]'")
    if not 0 <= args.port <= 65535:
        raise UserError(f"invalid port {args.port}")
    from werkzeug.serving import make_server  # Flask's own server library

    from . import EXTENSION_KEY, create_app

    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(name)s: %(message)s")
    from ..device import parse_device

    device = parse_device(args.device)
    app = create_app(model=args.model, jobs_dir=args.jobs_dir, max_upload_mb=args.max_upload_mb,
                     max_seconds=args.max_seconds, workers=args.workers,
                     keep_minutes=args.keep_minutes, device=device, max_queue=args.max_queue,
                     max_job_mb=args.max_job_mb)
    manager = app.extensions[EXTENSION_KEY]
    try:
        server = make_server(args.host, args.port, app, threaded=True)
        host = f"[{args.host}]" if ":" in args.host else args.host
        where = (f"{manager.jobs_dir} (deleted on exit)" if args.jobs_dir is None
                 else manager.jobs_dir)
        print(f"uploads and results in {where}", file=sys.stderr)
        print(f"unetvocalsep web demo on http://{host}:{server.server_port}/ "
              "(Ctrl-C to stop)", file=sys.stderr, flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:   # Ctrl-C, or `kill` (run_cli makes SIGTERM a Terminated)
            print("stopped", file=sys.stderr)
        finally:
            server.server_close()
    finally:
        manager.close()
    return 0


def main(argv=None):
    """Run the server; returns the exit status.

    Parameters
    ----------
    argv : list of str or None

    Returns
    -------
    int
    """
    return run_cli(_main, argv, prog="unetvocalsep.web")


if __name__ == "__main__":
    sys.exit(main())
