#!/bin/sh
# Deploys BAKERY_ARTIFACT (a container image) to a Kubernetes Deployment:
# kubectl set image, then kubectl rollout status, which fails when the
# rollout exceeds the Deployment's progressDeadlineSeconds or when
# ROLLOUT_TIMEOUT passes first.
#
# Settings (deploy.env in bakery.yaml):
#   K8S_NAMESPACE    the namespace (default: default)
#   K8S_DEPLOYMENT   the Deployment's name
#   K8S_CONTAINER    the container whose image changes (default: the
#                    Deployment's name)
#   ROLLOUT_TIMEOUT  how long to wait, with a unit: 5m, 90s (default 5m);
#                    keep it below the environment's deploy.timeout
# kubectl reads its cluster from KUBECONFIG (name it in server.inherit_env)
# or the in-cluster service account.
set -eu

ns=${K8S_NAMESPACE:-default}
: "${K8S_DEPLOYMENT:?set K8S_DEPLOYMENT in deploy.env}"
container=${K8S_CONTAINER:-$K8S_DEPLOYMENT}
timeout=${ROLLOUT_TIMEOUT:-5m}
: "${BAKERY_ARTIFACT:?the release has no artifact: create it with --artifact IMAGE}"

kubectl --namespace "$ns" set image "deployment/$K8S_DEPLOYMENT" "$container=$BAKERY_ARTIFACT"
if ! kubectl --namespace "$ns" rollout status "deployment/$K8S_DEPLOYMENT" --timeout="$timeout"; then
  echo "deploy.sh: deployment/$K8S_DEPLOYMENT in $ns did not roll out $BAKERY_ARTIFACT within $timeout; see kubectl describe deployment/$K8S_DEPLOYMENT" >&2
  exit 1
fi
echo "deployment/$K8S_DEPLOYMENT runs $BAKERY_ARTIFACT"
