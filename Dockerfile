# The API image: the locked dependencies, the package and its migrations; served by granian.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PATH="/app/.venv/bin:${PATH}"

RUN pip install --no-cache-dir "uv==0.13.9"

WORKDIR /app
# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY alembic.ini ./
COPY migrations ./migrations
COPY solomo ./solomo
RUN uv sync --frozen --no-dev

RUN useradd --system --home-dir /app solomo && mkdir -p /app/.solomo && chown solomo /app/.solomo
USER solomo

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health/ready').status != 200)"
CMD ["solomo", "run", "--host", "0.0.0.0", "--port", "8000", "--migrate"]
