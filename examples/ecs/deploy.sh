#!/bin/sh
# Deploys BAKERY_ARTIFACT (a container image) to an ECS service: registers
# a new revision of the task definition with that image, points the service
# at it, waits until ECS says the service is stable, and then checks that
# the service really runs the new revision (the deployment circuit breaker
# may have rolled it back, after which the service is "stable" on the old
# one).
#
# Settings (deploy.env in bakery.yaml):
#   ECS_CLUSTER    the cluster's name or ARN
#   ECS_SERVICE    the service's name
#   TASKDEF        the task definition template (JSON for
#                  register-task-definition); __IMAGE__ is replaced by the
#                  image. Default: taskdef.json beside this script.
# AWS credentials come from the usual places (an instance or task role, or
# AWS_PROFILE / AWS_REGION named in server.inherit_env).
set -eu

: "${ECS_CLUSTER:?set ECS_CLUSTER in deploy.env}"
: "${ECS_SERVICE:?set ECS_SERVICE in deploy.env}"
: "${BAKERY_ARTIFACT:?the release has no artifact: create it with --artifact IMAGE}"
here=$(cd "$(dirname "$0")" && pwd)
taskdef=${TASKDEF:-$here/taskdef.json}
image=$BAKERY_ARTIFACT

# The image goes into JSON through sed: refuse characters that could break
# either.
case "$image" in
  *[!A-Za-z0-9._:/@-]*) echo "deploy.sh: image '$image' has characters an image reference cannot have" >&2; exit 2 ;;
esac

rendered=$(mktemp)
trap 'rm -f "$rendered"' EXIT
sed "s|__IMAGE__|$image|g" "$taskdef" > "$rendered"

echo "registering a task definition for $image"
arn=$(aws ecs register-task-definition --cli-input-json "file://$rendered" \
  --query 'taskDefinition.taskDefinitionArn' --output text)
echo "registered $arn"

aws ecs update-service --cluster "$ECS_CLUSTER" --service "$ECS_SERVICE" \
  --task-definition "$arn" --query 'service.serviceArn' --output text

echo "waiting for $ECS_SERVICE to be stable (aws ecs wait: up to 40 checks, 15 s apart)"
if ! aws ecs wait services-stable --cluster "$ECS_CLUSTER" --services "$ECS_SERVICE"; then
  echo "deploy.sh: $ECS_SERVICE did not become stable on $arn; see the service's events in the ECS console" >&2
  exit 1
fi

running=$(aws ecs describe-services --cluster "$ECS_CLUSTER" --services "$ECS_SERVICE" \
  --query 'services[0].taskDefinition' --output text)
if [ "$running" != "$arn" ]; then
  echo "deploy.sh: $ECS_SERVICE is stable but runs $running, not $arn: ECS rolled the deployment back" >&2
  exit 1
fi
echo "$ECS_SERVICE runs $image ($arn)"
