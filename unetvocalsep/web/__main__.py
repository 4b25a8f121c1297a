"""``python -m unetvocalsep.web``: serve the drag-and-drop separation page.

It runs under waitress, a production WSGI server: a bounded number of
connections (``--max-connections``), each closed after ``--timeout`` seconds
without traffic, and uploads buffered before a worker thread sees them, so
slow clients hold neither threads nor memory (Flask's development server
gave each connection a thread, with no timeout: issue 28).

Examples
--------
::

    python -m unetvocalsep.web                        # http://127.0.0.1:8000/
    python -m unetvocalsep.web --model result/unet.npz --workers 2 --port 8080
"""
import logging
import sys

from ..errors import UserError, describe_os_error
from ..signals import run_cli


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
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer to this host name, e.g. a reverse proxy's public name "
                        "(repeatable; IP addresses, localhost and this machine's names always "
                        "work; others get 421, against DNS rebinding)")
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="also accept uploads from pages of this origin, e.g. "
                        "https://sep.example.com behind a reverse proxy (repeatable; others "
                        "get 403, against cross-site requests)")
    p.add_argument("--max-connections", type=positive_int, default=J.MAX_CONNECTIONS,
                   metavar="N", help="most connections at once (default: %(default)s)")
    p.add_argument("--timeout", type=positive_float, default=J.IDLE_TIMEOUT, metavar="S",
                   help="close a connection after this many seconds without traffic "
                        "(default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="log only warnings")
    return p


def _main(argv):
    import importlib.util

    args = get_parser().parse_args(argv)   # --help prints without Flask installed
    for name in ("flask", "waitress"):   # checked without importing them
        if importlib.util.find_spec(name) is None:
            raise UserError(f"the web demo needs {name.capitalize()}: pip install "
                            "'unetvocalsep[web]'")
    if not 0 <= args.port <= 65535:
        raise UserError(f"invalid port {args.port}")
    from waitress.server import create_server

    from . import EXTENSION_KEY, MODEL_KEY, create_app

    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(name)s: %(message)s")
    from ..device import parse_device

    device = parse_device(args.device)
    app = create_app(model=args.model, jobs_dir=args.jobs_dir, max_upload_mb=args.max_upload_mb,
                     max_seconds=args.max_seconds, workers=args.workers,
                     keep_minutes=args.keep_minutes, device=device, max_queue=args.max_queue,
                     max_job_mb=args.max_job_mb, allow_hosts=args.allow_host,
                     allow_origins=args.allow_origin)
    manager = app.extensions[EXTENSION_KEY]
    try:
        try:
            server = create_server(
                app, host=args.host, port=args.port, threads=args.workers + 4,
                connection_limit=args.max_connections, channel_timeout=args.timeout,
                cleanup_interval=max(0.5, min(30.0, args.timeout / 2)),
                max_request_body_size=app.config["MAX_CONTENT_LENGTH"], ident="unetvocalsep",
                clear_untrusted_proxy_headers=True)
        except OSError as exc:
            raise UserError(f"cannot listen on {args.host}:{args.port}: "
                            f"{describe_os_error(exc)}") from None
        host = f"[{args.host}]" if ":" in args.host else args.host
        where = (f"{manager.jobs_dir} (deleted on exit)" if args.jobs_dir is None
                 else manager.jobs_dir)
        print(f"model {app.extensions[MODEL_KEY]['summary']}", file=sys.stderr)
        print(f"uploads and results in {where}", file=sys.stderr)
        if manager.recovered or manager.removed:
            print(f"jobs of an earlier run: {manager.recovered} finished served again, "
                  f"{manager.removed} unfinished removed", file=sys.stderr)
        print(f"unetvocalsep web demo on http://{host}:{server.effective_port}/ "
              "(Ctrl-C to stop)", file=sys.stderr, flush=True)
        try:
            server.run()   # returns on Ctrl-C or `kill` (run_cli makes SIGTERM a Terminated)
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
        print("stopped", file=sys.stderr)
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
