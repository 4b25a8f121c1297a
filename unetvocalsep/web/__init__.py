"""The drag-and-drop web demo: upload a song, get its vocals and accompaniment.

Run it with ``python -m unetvocalsep.web`` (see ``docs/WEB.md``), or build
the Flask application yourself::

    from unetvocalsep.web import create_app
    app = create_app(model="result/unet.npz")
    app.run()                                   # http://127.0.0.1:5000/
    app.extensions["unetvocalsep.jobs"].close()  # stop the workers when done

HTTP API (all answers JSON except the files). The server answers only to its
own host names and origins, and a POST needs a page token
(:mod:`unetvocalsep.web.guard`; docs/WEB.md):

- ``GET /api/token`` -> ``{"token"}``, to send as the header
  ``X-Unetvocalsep-Token`` with each POST (the page has one already);
- ``POST /api/separate`` (multipart field ``file``; field ``wiener=1`` refines the
  stems with the multichannel Wiener filter) -> 202 ``{"id", "status_url"}``;
  400 not audio / undecodable / too short / too long / more than 2 channels, 413 too big
  (the upload, or the disk its results would take), 503 queue full, 507 disk full;
  uploads above 48 kHz are separated at 48 kHz;
- ``GET /api/model`` -> the model in use and its licence: ``{"name", "bundled",
  "licence", "licence_short", "iterations", "summary"}``
  (:func:`~unetvocalsep.model_io.describe_model`; the page shows it too);
- ``GET /api/jobs/<id>`` -> the job's status (see :func:`job_json`);
- ``GET /api/jobs/<id>/<stem>`` with ``stem`` one of ``vocals``,
  ``accompaniment``, ``original``, ``spectrogram``; ``?download=1`` asks the
  browser to save it.

Flask is imported only here (the ``[web]`` extra), never by ``unetvocalsep``
itself.
"""
import os

from ..errors import UserError
from .guard import TOKEN_HEADER, Guard
from .jobs import KEEP_MINUTES, MAX_JOB_MB, MAX_QUEUE, MAX_SECONDS, MAX_UPLOAD_MB, WORKERS, JobManager
from .records import FILES, ID_RE, MIMETYPES
from .uploads import RequestError

#: Extensions the page offers in its file picker.
ACCEPT = (".wav", ".flac", ".ogg", ".mp3")
#: Key of the :class:`~.jobs.JobManager` in ``app.extensions``.
EXTENSION_KEY = "unetvocalsep.jobs"
#: Key of the :class:`~.guard.Guard` in ``app.extensions``.
GUARD_KEY = "unetvocalsep.guard"
#: Key of the model's description (``GET /api/model``) in ``app.extensions``.
MODEL_KEY = "unetvocalsep.model"


def create_app(separator=None, model=None, jobs_dir=None, max_upload_mb=MAX_UPLOAD_MB,
               max_seconds=MAX_SECONDS, workers=WORKERS, keep_minutes=KEEP_MINUTES,
               device=-1, max_queue=MAX_QUEUE, janitor_seconds=None,
               max_job_mb=MAX_JOB_MB, allow_hosts=(), allow_origins=()):
    """Build the Flask application and start its worker and janitor threads.

    Parameters
    ----------
    separator : Separator or None
        Used by every worker (its network call is wrapped with a lock). When
        ``None``, one is made from ``model`` and ``device``.
    model : str or None
        npz model; ``None`` for the model bundled with the package.
    jobs_dir : str or None
        Folder for the jobs' files; a temporary folder (deleted by
        ``app.extensions['unetvocalsep.jobs'].close()``) when ``None``.
    max_upload_mb : float
        Larger uploads get 413.
    max_seconds : float
        Longer audio gets 400.
    workers : int
        Worker threads.
    keep_minutes : float
        Finished jobs and their files are deleted this long after they end.
    device : int or str
        ``-1`` for the CPU, ``N`` for GPU ``N``.
    max_queue : int
        Most jobs waiting at once; more get 503.
    janitor_seconds : float or None
        How often old jobs are looked for (default ``min(60 s, keep / 4)``).
    max_job_mb : float
        Most disk one job may use (upload and results); larger get 413, and
        507 when the disk cannot hold the job.
    allow_hosts, allow_origins : iterable of str
        Host names and origins to accept besides this machine's own (a
        reverse proxy's public name): :class:`~unetvocalsep.web.guard.Guard`.

    Returns
    -------
    flask.Flask
        ``app.extensions['unetvocalsep.jobs']`` is the :class:`~.jobs.JobManager`,
        ``app.extensions['unetvocalsep.model']`` the model's description.

    Raises
    ------
    UserError
        Flask missing, a bad model, a bad setting.
    """
    try:
        import flask
        from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
    except ImportError:
        raise UserError("the web demo needs Flask: pip install 'unetvocalsep[web]'") from None
    if not max_upload_mb > 0:
        raise UserError("--max-upload-mb must be positive")
    if separator is None:
        from ..separator import Separator

        separator = Separator(model=model, device=device)
    manager = JobManager(separator, jobs_dir=jobs_dir, max_seconds=max_seconds, workers=workers,
                         keep_minutes=keep_minutes, max_queue=max_queue,
                         janitor_seconds=janitor_seconds, max_job_mb=max_job_mb)
    app = flask.Flask(__name__, static_folder="static", template_folder="templates")
    # the limit is on the file; the multipart envelope around it gets 64 KiB more
    app.config["MAX_CONTENT_LENGTH"] = int(max_upload_mb * 1024 * 1024) + 65536
    app.json.sort_keys = False
    app.extensions[EXTENSION_KEY] = manager
    guard = Guard(allow_hosts, allow_origins)
    app.extensions[GUARD_KEY] = guard
    model_info = separator.model_info
    app.extensions[MODEL_KEY] = model_info

    def error(message, status):
        return flask.jsonify(error=message, status=status), status

    @app.before_request
    def check_origin():
        req = flask.request
        if not guard.host_ok(req.host):   # DNS rebinding: a name that is not ours
            return error(f"this server does not answer to the host name {req.host!r} "
                         f"(start it with --allow-host NAME to add one)", 421)
        if req.method in ("GET", "HEAD", "OPTIONS"):
            return None
        if not guard.origin_ok(req.headers.get("Origin"), req.host, req.scheme,
                               req.headers.get("Sec-Fetch-Site")):
            return error("cross-origin request refused (start the server with --allow-origin "
                         "ORIGIN to allow a page of another origin)", 403)
        if not guard.token_ok(req.headers.get(TOKEN_HEADER)):
            return error(f"missing or invalid page token: reload the page (programs: GET "
                         f"/api/token and send it as the {TOKEN_HEADER} header)", 403)
        return None

    def job_json(job):
        """The status of ``job`` with the URLs of its files."""
        out = manager.status(job)
        out["status_url"] = flask.url_for("job_status", job_id=job.id)

        def url(stem):
            return flask.url_for("job_file", job_id=job.id, stem=stem)

        done = job.status == "done"
        out["stems"] = {"original": url("original")}
        if done:
            out["stems"].update(vocals=url("vocals"), accompaniment=url("accompaniment"))
        out["spectrogram"] = url("spectrogram") if done and os.path.isfile(job.path("spectrogram")) else None
        return out

    @app.get("/")
    def index():
        return flask.render_template("index.html", max_upload_mb=max_upload_mb,
                                     max_seconds=max_seconds, accept=",".join(ACCEPT),
                                     token=guard.new_token(), model=model_info)

    @app.get("/api/model")
    def model():
        return flask.jsonify(model_info)

    @app.get("/api/token")
    def token():
        return flask.jsonify(token=guard.new_token(), header=TOKEN_HEADER)

    @app.post("/api/separate")
    def submit():
        upload = flask.request.files.get("file")
        if upload is None:
            return error("no file in the request (send it as the multipart field 'file')", 400)
        try:
            wiener = flask.request.form.get("wiener", "0")
            if wiener not in ("0", "1", "on", "off", "true", "false"):
                return error("the field 'wiener' must be 1 or 0", 400)
            job = manager.submit(upload.stream, upload.filename,
                                 wiener=wiener in ("1", "on", "true"))
        except RequestError as exc:
            return error(str(exc), exc.status)
        body = {"id": job.id, "status_url": flask.url_for("job_status", job_id=job.id),
                "status": job.status, "queue_position": manager.queue_position(job)}
        return flask.jsonify(body), 202, {"Location": body["status_url"]}

    @app.get("/api/jobs/<job_id>")
    def job_status(job_id):
        job = manager.get(job_id)
        if job is None:
            return error("no such job (unknown id, or deleted after it finished)", 404)
        return flask.jsonify(job_json(job))

    @app.get("/api/jobs/<job_id>/<stem>")
    def job_file(job_id, stem):
        job = manager.get(job_id)
        if job is None:
            return error("no such job (unknown id, or deleted after it finished)", 404)
        if stem not in FILES:
            return error(f"no such file: choose one of {', '.join(FILES)}", 404)
        if stem != "original" and job.status != "done":
            return error(f"the job is {job.status}; its {stem} is not ready", 409)
        path = job.path(stem)
        if not os.path.isfile(path):
            return error(f"the {stem} of this job is not available", 404)
        ext = path.rsplit(".", 1)[-1]
        base = job.name.rsplit(".", 1)[0] if "." in job.name else job.name
        name = f"{base}.{ext}" if stem == "original" else f"{base}-{stem}.{ext}"
        return flask.send_file(path, mimetype=MIMETYPES[ext], conditional=True, max_age=0,
                               as_attachment=flask.request.args.get("download") == "1",
                               download_name=name)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc):
        return error(f"the file is too large: this server accepts uploads up to {max_upload_mb:g} MB", 413)

    @app.errorhandler(HTTPException)
    def http_error(exc):
        if flask.request.path.startswith("/api/"):
            return error(exc.description or exc.name, exc.code)
        return exc

    @app.after_request
    def headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
            "object-src 'none'; frame-ancestors 'none'")
        return response

    return app


__all__ = ["create_app", "JobManager", "ID_RE", "FILES", "MODEL_KEY"]
