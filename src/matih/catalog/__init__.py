"""Discovery: what tables exist, what they hold, and where they come from."""
