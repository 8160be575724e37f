"""IOC dashboard core: settings, keys, events, city model, rules, aggregation, storage. Imports no Dash."""
