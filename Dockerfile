# shopbot: one image for the server and its one-off commands (init, index, train).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SHOPBOT_HOME=/data HF_HUB_OFFLINE=1
WORKDIR /app

# CPU torch first (PyPI's Linux torch is a multi-GB CUDA build), then the pinned set.
COPY pyproject.toml constraints.txt README.md ./
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY . .
RUN pip install --no-cache-dir -c constraints.txt -e .

VOLUME /data
EXPOSE 8000
# `up` prepares what is missing in /data (database, index, models), then serves.
CMD ["shopbot", "up", "--host", "0.0.0.0", "--port", "8000"]
