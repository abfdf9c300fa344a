"""Configuration: the TOML file, validated, as frozen dataclasses.

- `validation`: the generic machinery (TOML in, any dataclass out, one-line `ConfigError`s
  naming the key); it knows no setting.
- `settings`: the app's settings (`AppConfig` and its sections) and `load_config`.
- `audit`: the configuration at start-up, audited (what is in force, what changed).
"""
