"""Database backups (REL-06): `flask lms backup`, `backup-check` (the restore drill), `restore`, daily runs."""
