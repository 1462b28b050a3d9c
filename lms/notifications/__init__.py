"""In-app notifications: what the platform tells a person (mentions, replies, review results)."""
