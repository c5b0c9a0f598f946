#!/bin/sh
# Stops the canary service once a canary has ended (bakery has set its
# weight to 0 already): its desired count goes to 0. BAKERY_CANARY_OUTCOME
# is promoted, aborted or cancelled.
#
# Settings: ECS_CLUSTER, ECS_CANARY_SERVICE.
set -eu
: "${ECS_CLUSTER:?set ECS_CLUSTER}"
: "${ECS_CANARY_SERVICE:?set ECS_CANARY_SERVICE}"
aws ecs update-service --cluster "$ECS_CLUSTER" --service "$ECS_CANARY_SERVICE" --desired-count 0 \
  --query 'service.desiredCount' --output text
echo "canary service $ECS_CANARY_SERVICE scaled to 0 (${BAKERY_CANARY_OUTCOME:-ended})"
