-- Delivery insights (issue 14) read a service's events from a time on
-- (EventListParams.Since): this index finds the first of them without
-- scanning the service's older history.
CREATE INDEX events_service_at ON events (service, at);
