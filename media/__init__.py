"""Video probing, transcoding to an HLS ladder, and media storage."""
