# photoscore container images (README.md, "Containers").
#
#   docker build -t photoscore .                                   # scoring + serving (default target)
#   docker build -t photoscore-ray --build-arg EXTRAS=serve,ray .  # the same, as a Ray worker image
#   docker build --target train -t photoscore-train .              # training (torch, CUDA): GPU machines
#
# Behind a TLS-intercepting proxy, hand pip the proxy's CA bundle as a BuildKit secret; it is mounted
# only while pip runs and never lands in a layer. Normal builds need nothing:
#   DOCKER_BUILDKIT=1 docker build --secret id=pipcert,src=/etc/ssl/certs/ca-certificates.crt -t photoscore .
#
# BASE is any Debian-like image with python3 (3.11+) and its venv module; a local image (for example
# one made offline with debootstrap + docker import, see scripts/ci_image.sh) stands in unpulled.
ARG BASE=python:3.11-slim

# What every stage shares: a virtual environment at /opt/photoscore and the non-root user.
FROM ${BASE} AS python
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/photoscore/bin:$PATH
RUN python3 -m venv /opt/photoscore \
    && pip uninstall --yes --quiet setuptools \
    && useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin photoscore

# photoscore's own wheel (setuptools comes from PyPI into pip's isolated build, never into an image).
FROM python AS wheel
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN --mount=type=secret,id=pipcert,required=false \
    --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/pipcert ]; then export PIP_CERT=/run/secrets/pipcert; fi \
    && pip wheel --no-deps --wheel-dir /wheels .

# Training: photoscore[train] (torch + timm; PyPI's torch is the CUDA build, several GB). Run with
# --gpus all, the labelled photos and a job folder mounted (README.md, "Containers").
FROM python AS train
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    --mount=type=bind,source=requirements/train-no-deps.txt,target=/tmp/train-no-deps.txt \
    --mount=type=secret,id=pipcert,required=false \
    --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/pipcert ]; then export PIP_CERT=/run/secrets/pipcert; fi \
    && set -- /wheels/photoscore-*.whl \
    && pip install "$1[train]" \
    && pip install --no-deps -r /tmp/train-no-deps.txt
WORKDIR /app
COPY configs ./configs
COPY train-local predict ./
USER photoscore
ENTRYPOINT ["photoscore"]
CMD ["train", "--help"]

# Scoring (the default target): the core + EXTRAS (serve; serve,ray for a Ray worker image), no torch,
# the bundled model inside. Models of your own: mount a folder on /models and name them with -m.
FROM python AS scoring
ARG EXTRAS=serve
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    --mount=type=secret,id=pipcert,required=false \
    --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/pipcert ]; then export PIP_CERT=/run/secrets/pipcert; fi \
    && set -- /wheels/photoscore-*.whl \
    && pip install "$1${EXTRAS:+[$EXTRAS]}" \
    && mkdir /models
ENV PHOTOSCORE_MODEL_DIR=/models
WORKDIR /home/photoscore
USER photoscore
EXPOSE 8000
# No curl in a slim image: the probe is Python's urllib (any answer but 2xx fails it).
# Serving on another port: set PHOTOSCORE_HEALTH_URL to match.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('PHOTOSCORE_HEALTH_URL', 'http://127.0.0.1:8000/readyz'), timeout=4)"]
# uvicorn runs in this process (PID 1) and handles SIGTERM: docker stop finishes requests in flight.
ENTRYPOINT ["photoscore"]
CMD ["serve", "--host", "0.0.0.0"]
