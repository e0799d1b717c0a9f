# One image for every aquaflow service; compose picks the console script per container.
FROM python:3.11-slim
WORKDIR /app
COPY constraints.txt ./
COPY shared ./shared
COPY services ./services
COPY config ./config
# Calibrated thresholds (results) and drift references (inference) are kept beside each model.
COPY model_repository ./model_repository
RUN pip install --no-cache-dir -c constraints.txt ./shared ./services/ingest ./services/router ./services/inference ./services/results
# Frouros declares caps (scipy<1.15, requests<2.33) its detectors do not need (docs/drift.md).
RUN pip install --no-cache-dir --no-deps frouros==0.9.0
# Ingest's sweep checkpoint lives here, on a named volume; Docker copies this folder's
# owner into a new volume, so the unprivileged user below can write to it.
RUN mkdir -p /var/lib/aquaflow/ingest && chown -R nobody:nogroup /var/lib/aquaflow
USER nobody
EXPOSE 8000
