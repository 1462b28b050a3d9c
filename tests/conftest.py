"""Project-wide test set-up; the fixtures themselves live in lms.testing (loaded with -p lms.testing)."""
