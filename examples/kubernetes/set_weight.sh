#!/bin/sh
# Sends BAKERY_CANARY_WEIGHT percent (0-100) of the traffic to the canary
# Deployment through ingress-nginx's canary Ingress: its
# nginx.ingress.kubernetes.io/canary-weight annotation (see canary.yaml).
#
# Settings: K8S_NAMESPACE (default: default), CANARY_INGRESS.
set -eu
ns=${K8S_NAMESPACE:-default}
: "${CANARY_INGRESS:?set CANARY_INGRESS}"
w=${BAKERY_CANARY_WEIGHT:?bakery sets BAKERY_CANARY_WEIGHT}
case "$w" in
  ''|*[!0-9]*) echo "set_weight.sh: weight '$w' is not a whole number" >&2; exit 2 ;;
esac
if [ "$w" -gt 100 ]; then
  echo "set_weight.sh: weight $w is more than 100" >&2; exit 2
fi
# --overwrite: the annotation has a value from the previous step.
kubectl --namespace "$ns" annotate --overwrite "ingress/$CANARY_INGRESS" "nginx.ingress.kubernetes.io/canary-weight=$w"
echo "canary $w%"
