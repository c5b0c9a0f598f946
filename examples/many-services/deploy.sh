#!/bin/sh
# A stand-in deploy command: prints what it would deploy where.
echo "deploying $BAKERY_SERVICE $BAKERY_VERSION to $1"
