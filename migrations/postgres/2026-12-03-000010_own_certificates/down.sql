DROP TABLE own_certificates;
