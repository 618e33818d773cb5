DROP TABLE IF EXISTS notification_deliveries;
DROP TABLE IF EXISTS notification_channels;
