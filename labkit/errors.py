"""The two errors labkit raises for what a user can mend: ConfigError, bad input (a field, its
value, what would be valid), and StoreError, a run folder or sweep record that is damaged or held
by another process."""
