DROP TABLE hash_rules_state;
