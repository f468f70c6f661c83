# nnvis dashboard, CPU image served by gunicorn.
#   docker build -t nnvis .
#   docker run -p 8050:8050 -v $PWD/workspaces:/data nnvis          (serves /data/* workspaces)
# GPU variant: build FROM an nvidia/cuda runtime image with Python 3.11 instead of python:3.11-slim
# and run with `--gpus all`; torch 2.14.1 from PyPI is a CUDA build, so nothing else changes.
# Workers for several machines (same image, REDIS_URL set, /data on a shared filesystem):
#   docker run -e REDIS_URL=redis://HOST:6379/0 -v /shared/workspaces:/data nnvis \
#     celery -A app:celery_app worker --concurrency 1 --loglevel INFO
# Checked by hadolint in tests/integration/test_deploy.py.
FROM python:3.11-slim

# the server runs as an unprivileged user owning only /data and its job cache (outside the data folder:
# whoever writes the data volume never writes what the server's jobs read)
RUN useradd --create-home --uid 10001 nnvis \
    && mkdir -p /data /var/cache/nnvis-jobs \
    && chown nnvis /data /var/cache/nnvis-jobs
WORKDIR /app
COPY pyproject.toml README.md ./
COPY nnvis ./nnvis
COPY callbacks ./callbacks
COPY layouts ./layouts
COPY web ./web
COPY nnvis_components ./nnvis_components
COPY assets ./assets
COPY app.py ./
RUN pip install --no-cache-dir .
USER 10001

ENV NNVIS_WORKSPACES=/data/digits-mlp \
    NNVIS_JOB_CACHE=/var/cache/nnvis-jobs \
    NNVIS_THREADS=2
VOLUME /data
EXPOSE 8050
HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8050/health')"]
# prepare the embedded default when /data is empty, then serve with 4 workers of 8 threads each
# (gthread: /health and light requests answer beside a slow callback)
CMD ["sh", "-c", "[ -f /data/digits-mlp/workspace.json ] || nnvis run --dataset digits --model mlp --epochs 6 --snapshot-every 3 --workspace /data/digits-mlp; exec gunicorn --worker-class gthread --workers 4 --threads 8 --timeout 120 --bind 0.0.0.0:8050 app:server"]
