# One image for the four services; docker-compose.yml picks the service by command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 REDTHREAD_HTTP_HOST=0.0.0.0
WORKDIR /app

COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY services ./services
COPY deploy/__init__.py deploy/topics.py ./deploy/
COPY deploy/demo ./deploy/demo
RUN pip install --no-cache-dir .

# Unprivileged at run time.
RUN useradd --system --uid 10001 redthread
USER redthread

CMD ["python", "-m", "services.intake"]
