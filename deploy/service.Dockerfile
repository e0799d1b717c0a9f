# One image for every aquaflow service; compose picks the console script per container.
FROM python:3.11-slim
WORKDIR /app
COPY constraints.txt ./
COPY shared ./shared
COPY services ./services
COPY config ./config
RUN pip install --no-cache-dir -c constraints.txt ./shared ./services/ingest ./services/router ./services/inference ./services/results
USER nobody
EXPOSE 8000
