#!/bin/sh
# Creates the watched buckets and routes their uploads to the AMQP target.
set -eu
mc alias set local http://minio:9000 minioadmin minioadmin
for bucket in plankton-flowcam plankton-zooscan obsea-frames drone-litter aquaflow-outputs; do
  mc mb --ignore-existing "local/$bucket"
done
for bucket in plankton-flowcam plankton-zooscan obsea-frames drone-litter; do
  mc event add --ignore-existing "local/$bucket" arn:minio:sqs::AQUAFLOW:amqp --event put || true
done
