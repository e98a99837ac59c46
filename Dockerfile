# One image, four services: `python -m services.NAME` (compose sets the command).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY postflow ./postflow
COPY services ./services
# Exact versions from constraints.txt: the image is reproducible.
RUN pip install --no-cache-dir --prefix=/install --constraint constraints.txt .

FROM python:3.11-slim
RUN groupadd --system --gid 10001 postflow \
 && useradd --system --uid 10001 --gid postflow --home-dir /var/lib/postflow --shell /usr/sbin/nologin postflow \
 && mkdir -p /var/lib/postflow && chown postflow:postflow /var/lib/postflow
COPY --from=build /install /usr/local
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    POSTFLOW__STATE_DIR=/var/lib/postflow
USER postflow
WORKDIR /var/lib/postflow
ENTRYPOINT ["python"]
CMD ["-m", "services.dashboard", "-c", "/etc/postflow/config.json"]
