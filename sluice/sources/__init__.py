"""Where data comes from: listing and fingerprinting files on local disk or S3."""
