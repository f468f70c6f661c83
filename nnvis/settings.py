"""Settings in one typed object, read from NNVIS_* environment variables and CLI flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_WORKSPACE = Path("nnvis-workspace") / "digits-mlp"


@dataclass(frozen=True)
class Settings:
    """How the dashboard runs. Environment: NNVIS_WORKSPACES (paths separated by ':'),
    NNVIS_HOST, NNVIS_PORT, NNVIS_READ_ONLY (1/true), NNVIS_JOB_CACHE (folder for jobs),
    REDIS_URL (run background jobs on Celery workers through this Redis), NNVIS_USERS
    ('name:password,...': HTTP basic login), NNVIS_AUTH_HEADER (a header an authenticating
    reverse proxy sets, e.g. X-Forwarded-User: requests without it are refused),
    NNVIS_POINTS_ABOVE (projections of more observations are drawn by the WebGL point view,
    regl-scatterplot, instead of Plotly's points; default 100,000), NNVIS_DENSITY_ABOVE
    (projections of more observations are drawn as a server-rendered density image instead;
    default 2,000,000). Jobs: NNVIS_MAX_JOBS (running at once on this
    machine, default 4), NNVIS_MAX_JOBS_PER_USER (default 3), NNVIS_JOB_TIMEOUT (wall-clock seconds,
    default 3600), NNVIS_JOB_STALL (seconds without progress before a job is stopped, default 900).
    NNVIS_MODEL_ALLOW: TorchScript files and module:function models (separated by commas) that a
    served workspace may name; any other such model is refused (mlp, cnn, torchvision names are allowed)."""

    workspaces: tuple[Path, ...] = (DEFAULT_WORKSPACE,)
    host: str = "127.0.0.1"
    port: int = 8050
    read_only: bool = False
    job_cache: Path = field(default=Path("nnvis-workspace") / ".jobs")
    redis_url: str | None = None
    users: tuple[tuple[str, str], ...] = ()
    auth_header: str | None = None
    points_above: int = 100_000
    density_above: int = 2_000_000
    max_jobs: int = 4
    max_jobs_per_user: int = 3
    job_timeout_s: float = 3600.0
    job_stall_s: float = 900.0
    model_allow: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> "Settings":
        """Settings from NNVIS_* variables, then `overrides` (CLI flags) on top."""
        env = os.environ if environ is None else environ
        settings = cls()
        if env.get("NNVIS_WORKSPACES"):
            settings = replace(settings, workspaces=tuple(Path(p) for p in env["NNVIS_WORKSPACES"].split(":") if p))
        if env.get("NNVIS_HOST"):
            settings = replace(settings, host=env["NNVIS_HOST"])
        if env.get("NNVIS_PORT"):
            settings = replace(settings, port=int(env["NNVIS_PORT"]))
        if env.get("NNVIS_READ_ONLY"):
            settings = replace(settings, read_only=env["NNVIS_READ_ONLY"].lower() in ("1", "true", "yes"))
        if env.get("NNVIS_JOB_CACHE"):
            settings = replace(settings, job_cache=Path(env["NNVIS_JOB_CACHE"]))
        if env.get("REDIS_URL"):
            settings = replace(settings, redis_url=env["REDIS_URL"])
        if env.get("NNVIS_USERS"):
            pairs = [entry.split(":", 1) for entry in env["NNVIS_USERS"].split(",") if entry.strip()]
            if any(len(pair) != 2 or not all(pair) for pair in pairs):
                raise ValueError("NNVIS_USERS must be 'name:password' pairs separated by commas")
            settings = replace(settings, users=tuple((name, password) for name, password in pairs))
        for variable, name, kind in NUMBERS:
            if env.get(variable):
                settings = replace(settings, **{name: positive(variable, env[variable], kind)})
        if env.get("NNVIS_MODEL_ALLOW"):
            settings = replace(settings, model_allow=tuple(m.strip() for m in env["NNVIS_MODEL_ALLOW"].split(",")
                                                           if m.strip()))
        if env.get("NNVIS_AUTH_HEADER"):
            settings = replace(settings, auth_header=env["NNVIS_AUTH_HEADER"])
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if "workspaces" in overrides:
            overrides["workspaces"] = tuple(Path(p) for p in overrides["workspaces"])
        return replace(settings, **overrides)

    def to_env(self) -> dict[str, str]:
        """The NNVIS_* variables that give these settings back (for a job's fresh interpreter)."""
        env = {"NNVIS_WORKSPACES": ":".join(str(p) for p in self.workspaces), "NNVIS_HOST": self.host,
               "NNVIS_PORT": str(self.port), "NNVIS_READ_ONLY": "1" if self.read_only else "0",
               "NNVIS_JOB_CACHE": str(self.job_cache), "NNVIS_MODEL_ALLOW": ",".join(self.model_allow)}
        env.update({variable: str(getattr(self, name)) for variable, name, _ in NUMBERS})
        return env


NUMBERS = (("NNVIS_POINTS_ABOVE", "points_above", int), ("NNVIS_DENSITY_ABOVE", "density_above", int),
           ("NNVIS_MAX_JOBS", "max_jobs", int),
           ("NNVIS_MAX_JOBS_PER_USER", "max_jobs_per_user", int), ("NNVIS_JOB_TIMEOUT", "job_timeout_s", float),
           ("NNVIS_JOB_STALL", "job_stall_s", float))


def positive(variable: str, text: str, kind: type):
    """`text` as a positive `kind`; ValueError naming `variable` otherwise."""
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not value > 0:
        raise ValueError(f"{variable} must be a positive {kind.__name__}, not {text!r}")
    return value


def dashboard_entry_point() -> str:
    """The path of the dashboard's `app.py` (located, not imported), for `nnvis serve` and the
    notebook's server."""
    import importlib.util

    from nnvis.errors import NNVisError

    spec = importlib.util.find_spec("app")
    if spec is None or not spec.origin or Path(spec.origin).name != "app.py":
        raise NNVisError("cannot find the dashboard (app.py): install nnvis with `pip install -e .` "
                         "from its repository, or run `python app.py` there")
    return spec.origin
