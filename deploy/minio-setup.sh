#!/bin/sh
# Prepares MinIO for aquaflow, safe to run again on every `docker compose up`:
#  - creates the watched buckets and the output bucket inference writes crops and previews to;
#  - adds one event rule per watched bucket sending every upload (s3:ObjectCreated:*, which
#    `--event put` stands for) to the chosen notification target, and removes the rule of the
#    other target, so each upload is announced through one path (ingest's reconciliation
#    sweep still finds uploads whose notification was lost).
# The output bucket gets no rule: what inference writes there is not an upload to classify.
#
# Environment (set in docker-compose.yml):
#   MINIO_ROOT_USER, MINIO_ROOT_PASSWORD   MinIO's credentials
#   MINIO_SETUP_WATCHED_BUCKETS            space-separated; the buckets of AQUAFLOW_INGEST_BUCKETS
#   MINIO_SETUP_OUTPUT_BUCKET              AQUAFLOW_INFERENCE_OUTPUT_BUCKET
#   MINIO_SETUP_NOTIFY_TARGET              amqp (primary: RabbitMQ's notifications exchange) or
#                                          webhook (ingest's POST /minio/events; enable MinIO's
#                                          webhook target "AQUAFLOW" too)
set -eu

: "${MINIO_ROOT_USER:?set MINIO_ROOT_USER}"
: "${MINIO_ROOT_PASSWORD:?set MINIO_ROOT_PASSWORD}"
: "${MINIO_SETUP_WATCHED_BUCKETS:?set MINIO_SETUP_WATCHED_BUCKETS}"
: "${MINIO_SETUP_OUTPUT_BUCKET:?set MINIO_SETUP_OUTPUT_BUCKET}"
TARGET="${MINIO_SETUP_NOTIFY_TARGET:-amqp}"

# The ARNs of MinIO's notification targets with identifier AQUAFLOW (MINIO_NOTIFY_*_AQUAFLOW).
AMQP_ARN="arn:minio:sqs::AQUAFLOW:amqp"
WEBHOOK_ARN="arn:minio:sqs::AQUAFLOW:webhook"
case "$TARGET" in
  amqp) chosen="$AMQP_ARN"; other="$WEBHOOK_ARN" ;;
  webhook) chosen="$WEBHOOK_ARN"; other="$AMQP_ARN" ;;
  *) echo "MINIO_SETUP_NOTIFY_TARGET must be amqp or webhook, not '$TARGET'" >&2; exit 2 ;;
esac

mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"

for bucket in $MINIO_SETUP_WATCHED_BUCKETS "$MINIO_SETUP_OUTPUT_BUCKET"; do
  mc mb --ignore-existing "local/$bucket"
done

for bucket in $MINIO_SETUP_WATCHED_BUCKETS; do
  # Absent when the target was never switched: nothing to remove then.
  mc event rm "local/$bucket" "$other" --event put >/dev/null 2>&1 || true
  mc event add --ignore-existing "local/$bucket" "$chosen" --event put
done

echo "MinIO ready: watched [$MINIO_SETUP_WATCHED_BUCKETS] -> $chosen; output bucket $MINIO_SETUP_OUTPUT_BUCKET"
