"""Community insights from the moderation stream: what members ask, complain about and praise."""
