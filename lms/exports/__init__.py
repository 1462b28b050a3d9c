"""Export controls (PI-05): who may export personal data, masking, watermark, audit, rate limit, second approver."""
