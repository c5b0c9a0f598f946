-- Takes 016_exposure.sql back: the exposure counts (requests, people) and the beacon key are dropped.
DROP TABLE beacon_keys;
DROP TABLE exposure_people;
DROP TABLE exposure_requests;
