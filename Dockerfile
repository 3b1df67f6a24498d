# ticketing: the API (`serve`) and the workers (`worker`) from one image.
# Build: docker build -t ticketing .     Run: see compose.yaml and README "Deployment".

# --- build: resolve the locked dependencies into a virtualenv with uv ------------------------
FROM python:3.11-slim AS build
RUN pip install --no-cache-dir "uv>=0.4"
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Dependencies first (a layer that survives code changes), exactly as uv.lock pins them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
# Then the project itself, installed into the virtualenv (not as a link to /src).
COPY src ./src
RUN uv sync --frozen --no-dev --no-editable

# --- runtime: the virtualenv only, run as an unprivileged user -------------------------------
FROM python:3.11-slim AS runtime
RUN groupadd --system --gid 10001 ticketing \
 && useradd --system --uid 10001 --gid ticketing --home-dir /app --shell /usr/sbin/nologin ticketing \
 && mkdir -p /app /data \
 && chown ticketing:ticketing /data \
 && chmod 0700 /data
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=8005 \
    ENVIRONMENT=production \
    ZOHO_TOKEN_FILE=/data/zoho_tokens.json
WORKDIR /data
USER ticketing:ticketing
EXPOSE 8005
# Liveness of the API; workers have no HTTP port (compose turns this off for them).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8005/health/live', timeout=2)"]
ENTRYPOINT ["ticketing"]
CMD ["serve"]
