"""Who may submit: API keys and SMTP users, their scopes and lanes, and AUTH throttling."""
