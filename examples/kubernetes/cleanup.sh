#!/bin/sh
# Stops the canary Deployment once a canary has ended (its weight is 0
# already). BAKERY_CANARY_OUTCOME is promoted, aborted or cancelled.
#
# Settings: K8S_NAMESPACE (default: default), CANARY_DEPLOYMENT.
set -eu
ns=${K8S_NAMESPACE:-default}
: "${CANARY_DEPLOYMENT:?set CANARY_DEPLOYMENT}"
kubectl --namespace "$ns" scale "deployment/$CANARY_DEPLOYMENT" --replicas=0
echo "canary deployment/$CANARY_DEPLOYMENT scaled to 0 (${BAKERY_CANARY_OUTCOME:-ended})"
