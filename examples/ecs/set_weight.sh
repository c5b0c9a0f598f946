#!/bin/sh
# Moves BAKERY_CANARY_WEIGHT percent (0-100) of the traffic to the canary:
# the ALB's forward action gets two weighted target groups, the stable
# service's and the canary service's. bakery runs it at every canary step,
# and with 0 when a canary ends.
#
# Settings (canary.set_weight.env in bakery.yaml):
#   RULE_ARN or LISTENER_ARN   the listener rule to change (modify-rule), or
#                              the listener's default action (modify-listener)
#   STABLE_TG, CANARY_TG       the two target groups' ARNs
set -eu

: "${STABLE_TG:?set STABLE_TG}"
: "${CANARY_TG:?set CANARY_TG}"
w=${BAKERY_CANARY_WEIGHT:?bakery sets BAKERY_CANARY_WEIGHT}
case "$w" in
  ''|*[!0-9]*) echo "set_weight.sh: weight '$w' is not a whole number" >&2; exit 2 ;;
esac
if [ "$w" -gt 100 ]; then
  echo "set_weight.sh: weight $w is more than 100" >&2; exit 2
fi
stable=$((100 - w))
actions="[{\"Type\":\"forward\",\"ForwardConfig\":{\"TargetGroups\":[{\"TargetGroupArn\":\"$STABLE_TG\",\"Weight\":$stable},{\"TargetGroupArn\":\"$CANARY_TG\",\"Weight\":$w}]}}]"

if [ -n "${RULE_ARN:-}" ]; then
  aws elbv2 modify-rule --rule-arn "$RULE_ARN" --actions "$actions" --query 'Rules[0].RuleArn' --output text
elif [ -n "${LISTENER_ARN:-}" ]; then
  aws elbv2 modify-listener --listener-arn "$LISTENER_ARN" --default-actions "$actions" --query 'Listeners[0].ListenerArn' --output text
else
  echo "set_weight.sh: set RULE_ARN or LISTENER_ARN" >&2; exit 2
fi
echo "canary $w%, stable $stable%"
