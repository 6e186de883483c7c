"""What the HTTP API and SMTP submission share: choosing the lane, checking the sender,
and the group commit that makes an accepted message durable before it is acknowledged."""
