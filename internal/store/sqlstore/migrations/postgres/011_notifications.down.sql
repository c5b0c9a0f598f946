-- Takes 011_notifications back: the deliveries and the Slack messages
-- they posted are dropped (nothing else refers to them).
DROP TABLE slack_messages;
DROP TABLE notify_deliveries;
