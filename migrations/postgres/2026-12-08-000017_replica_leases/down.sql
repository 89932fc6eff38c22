ALTER TABLE peer_channels DROP COLUMN fence;
DROP TABLE leases;
