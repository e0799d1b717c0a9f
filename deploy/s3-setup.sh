#!/bin/sh
# Prepares the S3 server (RustFS in docker-compose.yml) for aquaflow, safe to run again on
# every `docker compose up`. It speaks only S3's own API, through the AWS CLI:
#  - creates the watched buckets and the output bucket inference writes crops and previews to;
#  - sets each watched bucket's notification configuration to one rule sending every upload
#    (s3:ObjectCreated:*) to the chosen target. PutBucketNotificationConfiguration replaces the
#    whole configuration, so switching targets leaves no rule of the other one behind, and each
#    upload is announced through one path (ingest's reconciliation sweep still finds uploads
#    whose notification was lost);
#  - clears the output bucket's configuration: what inference writes there is not an upload.
#
# Environment (set in docker-compose.yml):
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION   the S3 server's credentials
#   S3_SETUP_ENDPOINT           the S3 API, e.g. http://s3:9000
#   S3_SETUP_WATCHED_BUCKETS    space-separated; the buckets of AQUAFLOW_INGEST_BUCKETS
#   S3_SETUP_OUTPUT_BUCKET      AQUAFLOW_INFERENCE_OUTPUT_BUCKET
#   S3_SETUP_NOTIFY_TARGET_ID   the identifier of RustFS's targets (RUSTFS_NOTIFY_*_<ID>), lower case
#   S3_SETUP_NOTIFY_TARGET      amqp (primary: RabbitMQ's notifications exchange) or webhook
#                               (ingest's POST /minio/events; enable RustFS's webhook target too)
set -eu

: "${S3_SETUP_ENDPOINT:?set S3_SETUP_ENDPOINT}"
: "${S3_SETUP_WATCHED_BUCKETS:?set S3_SETUP_WATCHED_BUCKETS}"
: "${S3_SETUP_OUTPUT_BUCKET:?set S3_SETUP_OUTPUT_BUCKET}"
: "${S3_SETUP_NOTIFY_TARGET_ID:?set S3_SETUP_NOTIFY_TARGET_ID}"
: "${AWS_DEFAULT_REGION:?set AWS_DEFAULT_REGION}"
TARGET="${S3_SETUP_NOTIFY_TARGET:-amqp}"

case "$TARGET" in
  amqp | webhook) ;;
  *) echo "S3_SETUP_NOTIFY_TARGET must be amqp or webhook, not '$TARGET'" >&2; exit 2 ;;
esac
# RustFS names a target arn:rustfs:sqs:<region>:<id>:<kind>; only <id>:<kind> selects it.
ARN="arn:rustfs:sqs:${AWS_DEFAULT_REGION}:${S3_SETUP_NOTIFY_TARGET_ID}:${TARGET}"

# Buckets are addressed by path: the server is not reachable as <bucket>.s3.
aws configure set default.s3.addressing_style path
s3api() { aws --endpoint-url "$S3_SETUP_ENDPOINT" s3api "$@"; }

for bucket in $S3_SETUP_WATCHED_BUCKETS "$S3_SETUP_OUTPUT_BUCKET"; do
  if ! s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
    s3api create-bucket --bucket "$bucket" >/dev/null
  fi
done

RULES="{\"QueueConfigurations\": [{\"Id\": \"aquaflow-uploads\", \"QueueArn\": \"$ARN\", \"Events\": [\"s3:ObjectCreated:*\"]}]}"
for bucket in $S3_SETUP_WATCHED_BUCKETS; do
  s3api put-bucket-notification-configuration --bucket "$bucket" --notification-configuration "$RULES"
done
s3api put-bucket-notification-configuration --bucket "$S3_SETUP_OUTPUT_BUCKET" --notification-configuration "{}"

echo "S3 ready: watched [$S3_SETUP_WATCHED_BUCKETS] -> $ARN; output bucket $S3_SETUP_OUTPUT_BUCKET"
